// Types for imagescript's pure-JS PNG encoder (`imagescript/png/node.js`).
declare const png: {
  encode(
    rgba: Uint8Array,
    options: { width: number; height: number; level: number; channels: 4 },
  ): Uint8Array;
};
export default png;
