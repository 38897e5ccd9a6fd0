;; PIL's 8-bit bicubic resampling passes and the model's normalisation, in WebAssembly SIMD.
;; The arithmetic is PIL's own: a 32-bit accumulator starting at 1 << 21, each tap's byte times
;; its 22-bit fixed-point weight added in, the sum shifted down by 22 and clipped to 0..255
;; (ImagingResampleHorizontal_8bpc / ImagingResampleVertical_8bpc). lib/image/resize.ts lays
;; out the memory; tools/build_wasm.ts turns this file into lib/image/resample_wasm.ts.
(module
  (memory (export "memory") 1)

  ;; Horizontal pass over `rows` source rows of `srcStride` bytes: output pixel `i` of a row sums
  ;; `counts[i]` RGB pixels from byte `offsets[i]` of the row, weighted by `weights[i * ksize ..]`.
  ;; A pixel's three channels are three lanes of one vector; the fourth lane reads (and the store
  ;; writes) one byte past the pixel, so `src` and `out` need 4 bytes of room at their ends.
  (func (export "horizontal")
    (param $src i32) (param $srcStride i32) (param $rows i32)
    (param $offsets i32) (param $counts i32) (param $weights i32) (param $ksize i32)
    (param $cols i32) (param $out i32)
    (local $y i32) (local $i i32) (local $t i32) (local $n i32)
    (local $row i32) (local $p i32) (local $w i32) (local $acc v128)
    (block $rows_done
      (loop $next_row
        (br_if $rows_done (i32.ge_u (local.get $y) (local.get $rows)))
        (local.set $row (i32.add (local.get $src) (i32.mul (local.get $y) (local.get $srcStride))))
        (local.set $i (i32.const 0))
        (block $cols_done
          (loop $next_col
            (br_if $cols_done (i32.ge_u (local.get $i) (local.get $cols)))
            (local.set $p (i32.add (local.get $row)
              (i32.load (i32.add (local.get $offsets) (i32.shl (local.get $i) (i32.const 2))))))
            (local.set $n (i32.load (i32.add (local.get $counts) (i32.shl (local.get $i) (i32.const 2)))))
            (local.set $w (i32.add (local.get $weights)
              (i32.shl (i32.mul (local.get $i) (local.get $ksize)) (i32.const 2))))
            (local.set $acc (v128.const i32x4 2097152 2097152 2097152 2097152))
            (local.set $t (i32.const 0))
            (block $taps_done
              (loop $next_tap
                (br_if $taps_done (i32.ge_u (local.get $t) (local.get $n)))
                (local.set $acc (i32x4.add (local.get $acc)
                  (i32x4.mul
                    (i32x4.extend_low_i16x8_u (i16x8.extend_low_i8x16_u (v128.load32_zero (local.get $p))))
                    (i32x4.splat (i32.load (local.get $w))))))
                (local.set $p (i32.add (local.get $p) (i32.const 3)))
                (local.set $w (i32.add (local.get $w) (i32.const 4)))
                (local.set $t (i32.add (local.get $t) (i32.const 1)))
                (br $next_tap)))
            (local.set $acc (i32x4.shr_s (local.get $acc) (i32.const 22)))
            (local.set $acc (i16x8.narrow_i32x4_s (local.get $acc) (local.get $acc)))
            (v128.store32_lane 0 (local.get $out) (i8x16.narrow_i16x8_u (local.get $acc) (local.get $acc)))
            (local.set $out (i32.add (local.get $out) (i32.const 3)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $next_col)))
        (local.set $y (i32.add (local.get $y) (i32.const 1)))
        (br $next_row))))

  ;; Vertical pass writing `rows` rows of `stride` bytes: output row `j` sums `counts[j]` source
  ;; rows from byte `firsts[j]` of `src`, weighted by `weights[j * ksize ..]`, 16 bytes at a time.
  ;; A row's last vector reads and writes up to 15 bytes past it (the next row's, written later),
  ;; so `src` and `out` need 16 bytes of room at their ends.
  (func (export "vertical")
    (param $src i32) (param $stride i32) (param $rows i32)
    (param $firsts i32) (param $counts i32) (param $weights i32) (param $ksize i32)
    (param $out i32)
    (local $j i32) (local $x i32) (local $t i32) (local $n i32)
    (local $first i32) (local $wrow i32) (local $p i32) (local $w i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $v v128) (local $lo v128) (local $hi v128) (local $wv v128)
    (block $rows_done
      (loop $next_row
        (br_if $rows_done (i32.ge_u (local.get $j) (local.get $rows)))
        (local.set $first (i32.add (local.get $src)
          (i32.load (i32.add (local.get $firsts) (i32.shl (local.get $j) (i32.const 2))))))
        (local.set $n (i32.load (i32.add (local.get $counts) (i32.shl (local.get $j) (i32.const 2)))))
        (local.set $wrow (i32.add (local.get $weights)
          (i32.shl (i32.mul (local.get $j) (local.get $ksize)) (i32.const 2))))
        (local.set $x (i32.const 0))
        (block $cols_done
          (loop $next_vector
            (br_if $cols_done (i32.ge_u (local.get $x) (local.get $stride)))
            (local.set $a0 (v128.const i32x4 2097152 2097152 2097152 2097152))
            (local.set $a1 (local.get $a0))
            (local.set $a2 (local.get $a0))
            (local.set $a3 (local.get $a0))
            (local.set $p (i32.add (local.get $first) (local.get $x)))
            (local.set $w (local.get $wrow))
            (local.set $t (i32.const 0))
            (block $taps_done
              (loop $next_tap
                (br_if $taps_done (i32.ge_u (local.get $t) (local.get $n)))
                (local.set $v (v128.load (local.get $p)))
                (local.set $wv (i32x4.splat (i32.load (local.get $w))))
                (local.set $lo (i16x8.extend_low_i8x16_u (local.get $v)))
                (local.set $hi (i16x8.extend_high_i8x16_u (local.get $v)))
                (local.set $a0 (i32x4.add (local.get $a0)
                  (i32x4.mul (i32x4.extend_low_i16x8_u (local.get $lo)) (local.get $wv))))
                (local.set $a1 (i32x4.add (local.get $a1)
                  (i32x4.mul (i32x4.extend_high_i16x8_u (local.get $lo)) (local.get $wv))))
                (local.set $a2 (i32x4.add (local.get $a2)
                  (i32x4.mul (i32x4.extend_low_i16x8_u (local.get $hi)) (local.get $wv))))
                (local.set $a3 (i32x4.add (local.get $a3)
                  (i32x4.mul (i32x4.extend_high_i16x8_u (local.get $hi)) (local.get $wv))))
                (local.set $p (i32.add (local.get $p) (local.get $stride)))
                (local.set $w (i32.add (local.get $w) (i32.const 4)))
                (local.set $t (i32.add (local.get $t) (i32.const 1)))
                (br $next_tap)))
            (v128.store (i32.add (local.get $out) (local.get $x))
              (i8x16.narrow_i16x8_u
                (i16x8.narrow_i32x4_s
                  (i32x4.shr_s (local.get $a0) (i32.const 22))
                  (i32x4.shr_s (local.get $a1) (i32.const 22)))
                (i16x8.narrow_i32x4_s
                  (i32x4.shr_s (local.get $a2) (i32.const 22))
                  (i32x4.shr_s (local.get $a3) (i32.const 22)))))
            (local.set $x (i32.add (local.get $x) (i32.const 16)))
            (br $next_vector)))
        (local.set $out (i32.add (local.get $out) (local.get $stride)))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $next_row))))

  ;; `n` RGB pixels to CHW float32: channel c's value v becomes `lut[c * 256 + v]`.
  (func (export "normalize") (param $src i32) (param $n i32) (param $lut i32) (param $out i32)
    (local $i i32) (local $p i32) (local $q i32) (local $plane i32)
    (local.set $plane (i32.shl (local.get $n) (i32.const 2)))
    (local.set $p (local.get $src))
    (local.set $q (local.get $out))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (f32.store (local.get $q)
          (f32.load (i32.add (local.get $lut) (i32.shl (i32.load8_u (local.get $p)) (i32.const 2)))))
        (f32.store (i32.add (local.get $q) (local.get $plane))
          (f32.load offset=1024 (i32.add (local.get $lut)
            (i32.shl (i32.load8_u offset=1 (local.get $p)) (i32.const 2)))))
        (f32.store (i32.add (local.get $q) (i32.shl (local.get $plane) (i32.const 1)))
          (f32.load offset=2048 (i32.add (local.get $lut)
            (i32.shl (i32.load8_u offset=2 (local.get $p)) (i32.const 2)))))
        (local.set $p (i32.add (local.get $p) (i32.const 3)))
        (local.set $q (i32.add (local.get $q) (i32.const 4)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))))
