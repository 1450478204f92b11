;; Whole-sequence RNN, LSTM and GRU loops in float32 with 128-bit SIMD: for every step, the recurrent
;; product (sgemm.wat's sgemmPacked, the weight packed once per sequence) then the fused gate loop,
;; all inside wasm memory. The maths is kernels/recurrent.ts's, four lanes of the hidden axis at a time,
;; so the hidden size must be a multiple of 4 (the caller pads it). Cross-entropy's softmax rows live
;; here too, sharing the exp. All addresses are byte offsets into the imported memory.
;; Rows of a batch are independent sequences, so a call may take a band of them: `batch` rows make a
;; step's block, this call runs `rows` of them, and every pointer already points at its band's first row.
;; Assembled by scripts/build-wasm.ts into recurrentWasm.ts (base64); edit this file, then `pnpm build:wasm`.
(module
  (import "env" "memory" (memory 1))
  ;; sgemmPacked(a, bpack, c, ldc, m, n, k, apack, accumulate): C[m,n] (+)= A·B, B packed, C's rows ldc
  ;; floats apart; accumulate = 0 writes C without reading it
  (import "env" "sgemmPacked" (func $gemm (param i32 i32 i32 i32 i32 i32 i32 i32 i32)))

  ;; Activations run over arrays, never one vector per call: a call's constants are made inside the
  ;; callee again at every call (V8 keeps no vector register across one), which cost as much as the maths.

  ;; dst = e^(scale·src - shift) over `bytes` (a multiple of 4: whole vectors, then single floats); 0
  ;; where scale·src - shift < -87, where float32's normal range ends. x = k·ln2 + r with |r| ≤ ln2/2,
  ;; e^r by Cephes' degree-7 polynomial; k is rounded by adding 1.5·2^23 (its low bits are then k), so
  ;; 2^k is those bits shifted into the exponent. x is clamped to [-87, 88] first (pmin and pmax keep a
  ;; NaN, which stays NaN). Relative error about 2e-7.
  ;; Four vectors a turn while four are left (the same lines four times over, each with locals of its
  ;; own, so that the four chains of dependent steps can overlap), then one at a time. A vector at a time
  ;; left one chain of dependent steps alone in the loop, and the LSTM's gate loops and softmaxRows ran
  ;; measurably slower for it, even with the constants in locals (bench/README).
  (func $exps (param $dst i32) (param $src i32) (param $bytes i32) (param $scale f32) (param $shift f32)
    (local $end i32) (local $foursEnd i32) (local $vectorEnd i32) (local $vector i32) (local $a v128) (local $b v128)
    (local $v0 v128) (local $x0 v128) (local $k0 v128) (local $kf0 v128) (local $r0 v128) (local $p0 v128)
    (local $v1 v128) (local $x1 v128) (local $k1 v128) (local $kf1 v128) (local $r1 v128) (local $p1 v128)
    (local $v2 v128) (local $x2 v128) (local $k2 v128) (local $kf2 v128) (local $r2 v128) (local $p2 v128)
    (local $v3 v128) (local $x3 v128) (local $k3 v128) (local $kf3 v128) (local $r3 v128) (local $p3 v128)
    (local $max v128) (local $min v128) (local $log2e v128) (local $round v128) (local $ln2Hi v128) (local $ln2Lo v128) (local $c0 v128)
    (local $c1 v128) (local $c2 v128) (local $c3 v128) (local $c4 v128) (local $c5 v128) (local $one v128) (local $exponentOne v128)
    (local.set $max (v128.const f32x4 88 88 88 88))
    (local.set $min (v128.const f32x4 -87 -87 -87 -87))
    (local.set $log2e (v128.const f32x4 1.44269504 1.44269504 1.44269504 1.44269504))
    (local.set $round (v128.const f32x4 12582912 12582912 12582912 12582912))
    (local.set $ln2Hi (v128.const f32x4 0.693359375 0.693359375 0.693359375 0.693359375))
    (local.set $ln2Lo (v128.const f32x4 -0.00021219444 -0.00021219444 -0.00021219444 -0.00021219444))
    (local.set $c0 (v128.const f32x4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4))
    (local.set $c1 (v128.const f32x4 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3))
    (local.set $c2 (v128.const f32x4 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3))
    (local.set $c3 (v128.const f32x4 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2))
    (local.set $c4 (v128.const f32x4 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1))
    (local.set $c5 (v128.const f32x4 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1))
    (local.set $one (v128.const f32x4 1 1 1 1))
    (local.set $exponentOne (v128.const i32x4 0x3f800000 0x3f800000 0x3f800000 0x3f800000))
    (local.set $a (f32x4.splat (local.get $scale)))
    (local.set $b (f32x4.splat (local.get $shift)))
    (local.set $end (i32.add (local.get $dst) (local.get $bytes)))
    (local.set $foursEnd (i32.add (local.get $dst) (i32.and (local.get $bytes) (i32.const -64))))
    (local.set $vectorEnd (i32.add (local.get $dst) (i32.and (local.get $bytes) (i32.const -16))))
    (block $foursDone
      (loop $fours
        (br_if $foursDone (i32.ge_u (local.get $dst) (local.get $foursEnd)))
        (local.set $v0 (f32x4.sub (f32x4.mul (local.get $a) (v128.load (local.get $src))) (local.get $b)))
        (local.set $x0 (f32x4.pmax (f32x4.pmin (local.get $v0) (local.get $max)) (local.get $min)))
        (local.set $k0 (f32x4.add (f32x4.mul (local.get $x0) (local.get $log2e)) (local.get $round)))
        (local.set $kf0 (f32x4.sub (local.get $k0) (local.get $round)))
        ;; r = x - k·ln2, with ln2 split in two so k·ln2_hi is exact
        (local.set $r0 (f32x4.sub (f32x4.sub (local.get $x0) (f32x4.mul (local.get $kf0) (local.get $ln2Hi)))
          (f32x4.mul (local.get $kf0) (local.get $ln2Lo))))
        (local.set $p0 (f32x4.add (f32x4.mul (local.get $c0) (local.get $r0)) (local.get $c1)))
        (local.set $p0 (f32x4.add (f32x4.mul (local.get $p0) (local.get $r0)) (local.get $c2)))
        (local.set $p0 (f32x4.add (f32x4.mul (local.get $p0) (local.get $r0)) (local.get $c3)))
        (local.set $p0 (f32x4.add (f32x4.mul (local.get $p0) (local.get $r0)) (local.get $c4)))
        (local.set $p0 (f32x4.add (f32x4.mul (local.get $p0) (local.get $r0)) (local.get $c5)))
        ;; e^r = 1 + r + r²·p, times 2^k: (k + 127) << 23 in the exponent field; 0 below -87
        (local.set $p0 (v128.andnot
          (f32x4.mul (f32x4.add (f32x4.add (f32x4.mul (f32x4.mul (local.get $p0) (local.get $r0)) (local.get $r0)) (local.get $r0))
                       (local.get $one))
            (i32x4.add (i32x4.shl (local.get $k0) (i32.const 23)) (local.get $exponentOne)))
          (f32x4.lt (local.get $v0) (local.get $min))))
        (local.set $v1 (f32x4.sub (f32x4.mul (local.get $a) (v128.load offset=16 (local.get $src))) (local.get $b)))
        (local.set $x1 (f32x4.pmax (f32x4.pmin (local.get $v1) (local.get $max)) (local.get $min)))
        (local.set $k1 (f32x4.add (f32x4.mul (local.get $x1) (local.get $log2e)) (local.get $round)))
        (local.set $kf1 (f32x4.sub (local.get $k1) (local.get $round)))
        (local.set $r1 (f32x4.sub (f32x4.sub (local.get $x1) (f32x4.mul (local.get $kf1) (local.get $ln2Hi)))
          (f32x4.mul (local.get $kf1) (local.get $ln2Lo))))
        (local.set $p1 (f32x4.add (f32x4.mul (local.get $c0) (local.get $r1)) (local.get $c1)))
        (local.set $p1 (f32x4.add (f32x4.mul (local.get $p1) (local.get $r1)) (local.get $c2)))
        (local.set $p1 (f32x4.add (f32x4.mul (local.get $p1) (local.get $r1)) (local.get $c3)))
        (local.set $p1 (f32x4.add (f32x4.mul (local.get $p1) (local.get $r1)) (local.get $c4)))
        (local.set $p1 (f32x4.add (f32x4.mul (local.get $p1) (local.get $r1)) (local.get $c5)))
        (local.set $p1 (v128.andnot
          (f32x4.mul (f32x4.add (f32x4.add (f32x4.mul (f32x4.mul (local.get $p1) (local.get $r1)) (local.get $r1)) (local.get $r1))
                       (local.get $one))
            (i32x4.add (i32x4.shl (local.get $k1) (i32.const 23)) (local.get $exponentOne)))
          (f32x4.lt (local.get $v1) (local.get $min))))
        (local.set $v2 (f32x4.sub (f32x4.mul (local.get $a) (v128.load offset=32 (local.get $src))) (local.get $b)))
        (local.set $x2 (f32x4.pmax (f32x4.pmin (local.get $v2) (local.get $max)) (local.get $min)))
        (local.set $k2 (f32x4.add (f32x4.mul (local.get $x2) (local.get $log2e)) (local.get $round)))
        (local.set $kf2 (f32x4.sub (local.get $k2) (local.get $round)))
        (local.set $r2 (f32x4.sub (f32x4.sub (local.get $x2) (f32x4.mul (local.get $kf2) (local.get $ln2Hi)))
          (f32x4.mul (local.get $kf2) (local.get $ln2Lo))))
        (local.set $p2 (f32x4.add (f32x4.mul (local.get $c0) (local.get $r2)) (local.get $c1)))
        (local.set $p2 (f32x4.add (f32x4.mul (local.get $p2) (local.get $r2)) (local.get $c2)))
        (local.set $p2 (f32x4.add (f32x4.mul (local.get $p2) (local.get $r2)) (local.get $c3)))
        (local.set $p2 (f32x4.add (f32x4.mul (local.get $p2) (local.get $r2)) (local.get $c4)))
        (local.set $p2 (f32x4.add (f32x4.mul (local.get $p2) (local.get $r2)) (local.get $c5)))
        (local.set $p2 (v128.andnot
          (f32x4.mul (f32x4.add (f32x4.add (f32x4.mul (f32x4.mul (local.get $p2) (local.get $r2)) (local.get $r2)) (local.get $r2))
                       (local.get $one))
            (i32x4.add (i32x4.shl (local.get $k2) (i32.const 23)) (local.get $exponentOne)))
          (f32x4.lt (local.get $v2) (local.get $min))))
        (local.set $v3 (f32x4.sub (f32x4.mul (local.get $a) (v128.load offset=48 (local.get $src))) (local.get $b)))
        (local.set $x3 (f32x4.pmax (f32x4.pmin (local.get $v3) (local.get $max)) (local.get $min)))
        (local.set $k3 (f32x4.add (f32x4.mul (local.get $x3) (local.get $log2e)) (local.get $round)))
        (local.set $kf3 (f32x4.sub (local.get $k3) (local.get $round)))
        (local.set $r3 (f32x4.sub (f32x4.sub (local.get $x3) (f32x4.mul (local.get $kf3) (local.get $ln2Hi)))
          (f32x4.mul (local.get $kf3) (local.get $ln2Lo))))
        (local.set $p3 (f32x4.add (f32x4.mul (local.get $c0) (local.get $r3)) (local.get $c1)))
        (local.set $p3 (f32x4.add (f32x4.mul (local.get $p3) (local.get $r3)) (local.get $c2)))
        (local.set $p3 (f32x4.add (f32x4.mul (local.get $p3) (local.get $r3)) (local.get $c3)))
        (local.set $p3 (f32x4.add (f32x4.mul (local.get $p3) (local.get $r3)) (local.get $c4)))
        (local.set $p3 (f32x4.add (f32x4.mul (local.get $p3) (local.get $r3)) (local.get $c5)))
        (local.set $p3 (v128.andnot
          (f32x4.mul (f32x4.add (f32x4.add (f32x4.mul (f32x4.mul (local.get $p3) (local.get $r3)) (local.get $r3)) (local.get $r3))
                       (local.get $one))
            (i32x4.add (i32x4.shl (local.get $k3) (i32.const 23)) (local.get $exponentOne)))
          (f32x4.lt (local.get $v3) (local.get $min))))
        (v128.store (local.get $dst) (local.get $p0))
        (v128.store offset=16 (local.get $dst) (local.get $p1))
        (v128.store offset=32 (local.get $dst) (local.get $p2))
        (v128.store offset=48 (local.get $dst) (local.get $p3))
        (local.set $dst (i32.add (local.get $dst) (i32.const 64)))
        (local.set $src (i32.add (local.get $src) (i32.const 64)))
        (br $fours)))
    ;; the rest: vectors, then single floats (lane 0 of a splat)
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $dst) (local.get $end)))
        (local.set $vector (i32.lt_u (local.get $dst) (local.get $vectorEnd)))
        (local.set $v0 (f32x4.sub (f32x4.mul (local.get $a) (if (result v128) (local.get $vector)
          (then (v128.load (local.get $src)))
          (else (v128.load32_splat (local.get $src))))) (local.get $b)))
        (local.set $x0 (f32x4.pmax (f32x4.pmin (local.get $v0) (local.get $max)) (local.get $min)))
        (local.set $k0 (f32x4.add (f32x4.mul (local.get $x0) (local.get $log2e)) (local.get $round)))
        (local.set $kf0 (f32x4.sub (local.get $k0) (local.get $round)))
        (local.set $r0 (f32x4.sub (f32x4.sub (local.get $x0) (f32x4.mul (local.get $kf0) (local.get $ln2Hi)))
          (f32x4.mul (local.get $kf0) (local.get $ln2Lo))))
        (local.set $p0 (f32x4.add (f32x4.mul (local.get $c0) (local.get $r0)) (local.get $c1)))
        (local.set $p0 (f32x4.add (f32x4.mul (local.get $p0) (local.get $r0)) (local.get $c2)))
        (local.set $p0 (f32x4.add (f32x4.mul (local.get $p0) (local.get $r0)) (local.get $c3)))
        (local.set $p0 (f32x4.add (f32x4.mul (local.get $p0) (local.get $r0)) (local.get $c4)))
        (local.set $p0 (f32x4.add (f32x4.mul (local.get $p0) (local.get $r0)) (local.get $c5)))
        (local.set $p0 (v128.andnot
          (f32x4.mul (f32x4.add (f32x4.add (f32x4.mul (f32x4.mul (local.get $p0) (local.get $r0)) (local.get $r0)) (local.get $r0))
                       (local.get $one))
            (i32x4.add (i32x4.shl (local.get $k0) (i32.const 23)) (local.get $exponentOne)))
          (f32x4.lt (local.get $v0) (local.get $min))))
        (if (local.get $vector)
          (then
            (v128.store (local.get $dst) (local.get $p0))
            (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
            (local.set $src (i32.add (local.get $src) (i32.const 16))))
          (else
            (f32.store (local.get $dst) (f32x4.extract_lane 0 (local.get $p0)))
            (local.set $dst (i32.add (local.get $dst) (i32.const 4)))
            (local.set $src (i32.add (local.get $src) (i32.const 4)))))
        (br $each))))

  ;; dst = 1 / (1 + e^-src) over `bytes`, a positive multiple of 16.
  (func $sigmoids (param $dst i32) (param $src i32) (param $bytes i32)
    (local $end i32)
    (call $exps (local.get $dst) (local.get $src) (local.get $bytes) (f32.const -1) (f32.const 0))
    (local.set $end (i32.add (local.get $dst) (local.get $bytes)))
    (loop $each
      (v128.store (local.get $dst) (f32x4.div (v128.const f32x4 1 1 1 1) (f32x4.add (v128.const f32x4 1 1 1 1) (v128.load (local.get $dst)))))
      (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
      (br_if $each (i32.lt_u (local.get $dst) (local.get $end)))))

  ;; dst = tanh(src) over `bytes`, a positive multiple of 16: a ratio of an odd degree-13 and an even degree-6
  ;; polynomial in x, x clamped to ±7.9053 (where float32's tanh is within an ulp of ±1): the form and
  ;; coefficients of Eigen's float tanh, accurate to a few ulps, with one division and no exp. |x| < 4e-4
  ;; gives x itself. NaN stays NaN.
  (func $tanhs (param $dst i32) (param $src i32) (param $bytes i32)
    (local $end i32) (local $x v128) (local $c v128) (local $x2 v128) (local $p v128) (local $q v128)
    (local.set $end (i32.add (local.get $dst) (local.get $bytes)))
    (loop $each
      (local.set $x (v128.load (local.get $src)))
      (local.set $c (f32x4.pmax (f32x4.pmin (local.get $x) (v128.const f32x4 7.90531110763549805 7.90531110763549805 7.90531110763549805 7.90531110763549805)) (v128.const f32x4 -7.90531110763549805 -7.90531110763549805 -7.90531110763549805 -7.90531110763549805)))
      (local.set $x2 (f32x4.mul (local.get $c) (local.get $c)))
      (local.set $p (f32x4.add (f32x4.mul (local.get $x2) (v128.const f32x4 -2.76076847742355e-16 -2.76076847742355e-16 -2.76076847742355e-16 -2.76076847742355e-16)) (v128.const f32x4 2.00018790482477e-13 2.00018790482477e-13 2.00018790482477e-13 2.00018790482477e-13)))
      (local.set $p (f32x4.add (f32x4.mul (local.get $x2) (local.get $p)) (v128.const f32x4 -8.60467152213735e-11 -8.60467152213735e-11 -8.60467152213735e-11 -8.60467152213735e-11)))
      (local.set $p (f32x4.add (f32x4.mul (local.get $x2) (local.get $p)) (v128.const f32x4 5.12229709037114e-08 5.12229709037114e-08 5.12229709037114e-08 5.12229709037114e-08)))
      (local.set $p (f32x4.add (f32x4.mul (local.get $x2) (local.get $p)) (v128.const f32x4 1.48572235717979e-05 1.48572235717979e-05 1.48572235717979e-05 1.48572235717979e-05)))
      (local.set $p (f32x4.add (f32x4.mul (local.get $x2) (local.get $p)) (v128.const f32x4 6.37261928875436e-04 6.37261928875436e-04 6.37261928875436e-04 6.37261928875436e-04)))
      (local.set $p (f32x4.add (f32x4.mul (local.get $x2) (local.get $p)) (v128.const f32x4 4.89352455891786e-03 4.89352455891786e-03 4.89352455891786e-03 4.89352455891786e-03)))
      (local.set $q (f32x4.add (f32x4.mul (local.get $x2) (v128.const f32x4 1.19825839466702e-06 1.19825839466702e-06 1.19825839466702e-06 1.19825839466702e-06)) (v128.const f32x4 1.18534705686654e-04 1.18534705686654e-04 1.18534705686654e-04 1.18534705686654e-04)))
      (local.set $q (f32x4.add (f32x4.mul (local.get $x2) (local.get $q)) (v128.const f32x4 2.26843463243900e-03 2.26843463243900e-03 2.26843463243900e-03 2.26843463243900e-03)))
      (local.set $q (f32x4.add (f32x4.mul (local.get $x2) (local.get $q)) (v128.const f32x4 4.89352518554385e-03 4.89352518554385e-03 4.89352518554385e-03 4.89352518554385e-03)))
      (v128.store (local.get $dst)
        (v128.bitselect (local.get $x) (f32x4.div (f32x4.mul (local.get $c) (local.get $p)) (local.get $q))
          (f32x4.lt (f32x4.abs (local.get $x)) (v128.const f32x4 0.0004 0.0004 0.0004 0.0004))))
      (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
      (local.set $src (i32.add (local.get $src) (i32.const 16)))
      (br_if $each (i32.lt_u (local.get $dst) (local.get $end)))))

  ;; Each of `rows` (≥ 1) rows of `bytes` at dst (rows back to back) += src[0..bytes): the biases.
  (func $addRows (param $dst i32) (param $src i32) (param $bytes i32) (param $rows i32)
    (loop $each
      (call $addInto (local.get $dst) (local.get $src) (local.get $bytes))
      (local.set $dst (i32.add (local.get $dst) (local.get $bytes)))
      (local.set $rows (i32.sub (local.get $rows) (i32.const 1)))
      (br_if $each (local.get $rows))))

  ;; dst[0..bytes) += src[0..bytes)
  (func $addInto (param $dst i32) (param $src i32) (param $bytes i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $dst) (local.get $bytes)))
    (loop $v
      (v128.store (local.get $dst) (f32x4.add (v128.load (local.get $dst)) (v128.load (local.get $src))))
      (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
      (local.set $src (i32.add (local.get $src) (i32.const 16)))
      (br_if $v (i32.lt_u (local.get $dst) (local.get $end)))))

  ;; Adds each of `rows` (≥ 1) rows of `bytes` at src (rows back to back) into the bias grads' partial sums:
  ;; row r into group r/4 at sums + (r/4)·bytes. A band of batch rows starts at a multiple of 4, so every
  ;; group's sum runs over the same rows in the same order however the batch is split into bands.
  (func $addGroups (param $sums i32) (param $src i32) (param $bytes i32) (param $rows i32)
    (local $r i32)
    (loop $each
      (call $addInto (i32.add (local.get $sums) (i32.mul (i32.shr_u (local.get $r) (i32.const 2)) (local.get $bytes)))
        (local.get $src) (local.get $bytes))
      (local.set $src (i32.add (local.get $src) (local.get $bytes)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br_if $each (i32.lt_u (local.get $r) (local.get $rows)))))

  ;; dst[0..bytes) = 0
  (func $zero (param $dst i32) (param $bytes i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $dst) (local.get $bytes)))
    (loop $v
      (v128.store (local.get $dst) (v128.const i32x4 0 0 0 0))
      (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
      (br_if $v (i32.lt_u (local.get $dst) (local.get $end)))))

  ;; Copies `lines` lines of `width` floats from src to dst (line strides in bytes) and zeroes floats
  ;; width..padTo of each dst line: stages rows whose hidden size is padded to a multiple of 4 (and, with
  ;; padTo = width, takes them back).
  (func (export "copyLines") (param $src i32) (param $srcStride i32) (param $dst i32) (param $dstStride i32)
                             (param $lines i32) (param $width i32) (param $padTo i32)
    (local $j i32)
    (local.set $width (i32.shl (local.get $width) (i32.const 2)))
    (local.set $padTo (i32.shl (local.get $padTo) (i32.const 2)))
    (block $done
      (loop $line
        (br_if $done (i32.eqz (local.get $lines)))
        (local.set $j (i32.const 0))
        (block $copied
          (loop $copy
            (br_if $copied (i32.ge_u (local.get $j) (local.get $width)))
            (f32.store (i32.add (local.get $dst) (local.get $j)) (f32.load (i32.add (local.get $src) (local.get $j))))
            (local.set $j (i32.add (local.get $j) (i32.const 4)))
            (br $copy)))
        (block $zeroed
          (loop $zero
            (br_if $zeroed (i32.ge_u (local.get $j) (local.get $padTo)))
            (f32.store (i32.add (local.get $dst) (local.get $j)) (f32.const 0))
            (local.set $j (i32.add (local.get $j) (i32.const 4)))
            (br $zero)))
        (local.set $src (i32.add (local.get $src) (local.get $srcStride)))
        (local.set $dst (i32.add (local.get $dst) (local.get $dstStride)))
        (local.set $lines (i32.sub (local.get $lines) (i32.const 1)))
        (br $line))))

  ;; out[width] = column sums of x [rows, width] (the bias grads); width in floats, a multiple of 4.
  (func (export "sumRows") (param $x i32) (param $out i32) (param $rows i32) (param $width i32)
    (local $bytes i32) (local $end i32)
    (local.set $bytes (i32.shl (local.get $width) (i32.const 2)))
    (call $zero (local.get $out) (local.get $bytes))
    (local.set $end (i32.add (local.get $x) (i32.mul (local.get $rows) (local.get $bytes))))
    (block $done
      (loop $row
        (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
        (call $addInto (local.get $out) (local.get $x) (local.get $bytes))
        (local.set $x (i32.add (local.get $x) (local.get $bytes)))
        (br $row))))

  ;; ---- softmax (cross-entropy's rows) ----

  ;; Each of `rows` rows of x [rows, classes]: probabilities = softmax(row), and stats [rows, 2] = the
  ;; row's max and Σ e^(x - max), from which the caller takes the loss, max + log Σ - x[target], in
  ;; float64. Terms below e^-87 count as 0 (float32's normal range ends there). NaN and ±Inf spread to
  ;; the row's results as in float arithmetic.
  (func (export "softmaxRows") (param $x i32) (param $probs i32) (param $stats i32) (param $rows i32)
                               (param $classes i32)
    (local $bytes i32) (local $vectorBytes i32) (local $j i32) (local $max v128) (local $sum v128)
    (local $scalarMax f32) (local $scale v128) (local $max2 v128) (local $max3 v128) (local $max4 v128)
    (local.set $bytes (i32.shl (local.get $classes) (i32.const 2)))
    (local.set $vectorBytes (i32.and (local.get $bytes) (i32.const -16)))
    (block $done
      (loop $row
        (br_if $done (i32.eqz (local.get $rows)))
        ;; the row's max: four vectors a turn, each into an accumulator of its own, then single vectors,
        ;; the tail, and across lanes. wasm's max keeps NaN and orders -0 below +0, so it is several
        ;; instructions, and one accumulator chained them all into one dependent sequence that made
        ;; softmaxRows markedly slower (bench/README).
        (local.set $max (v128.const f32x4 -inf -inf -inf -inf))
        (local.set $max2 (v128.const f32x4 -inf -inf -inf -inf))
        (local.set $max3 (v128.const f32x4 -inf -inf -inf -inf))
        (local.set $max4 (v128.const f32x4 -inf -inf -inf -inf))
        (local.set $j (i32.const 0))
        (block $foursDone
          (loop $fours
            (br_if $foursDone (i32.gt_u (i32.add (local.get $j) (i32.const 64)) (local.get $vectorBytes)))
            (local.set $max (f32x4.max (local.get $max) (v128.load (i32.add (local.get $x) (local.get $j)))))
            (local.set $max2 (f32x4.max (local.get $max2) (v128.load offset=16 (i32.add (local.get $x) (local.get $j)))))
            (local.set $max3 (f32x4.max (local.get $max3) (v128.load offset=32 (i32.add (local.get $x) (local.get $j)))))
            (local.set $max4 (f32x4.max (local.get $max4) (v128.load offset=48 (i32.add (local.get $x) (local.get $j)))))
            (local.set $j (i32.add (local.get $j) (i32.const 64)))
            (br $fours)))
        (local.set $max (f32x4.max (f32x4.max (local.get $max) (local.get $max2)) (f32x4.max (local.get $max3) (local.get $max4))))
        (block $vectorsDone
          (loop $vectors
            (br_if $vectorsDone (i32.ge_u (local.get $j) (local.get $vectorBytes)))
            (local.set $max (f32x4.max (local.get $max) (v128.load (i32.add (local.get $x) (local.get $j)))))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br $vectors)))
        (block $tailDone
          (loop $tail
            (br_if $tailDone (i32.ge_u (local.get $j) (local.get $bytes)))
            (local.set $max (f32x4.max (local.get $max) (v128.load32_splat (i32.add (local.get $x) (local.get $j)))))
            (local.set $j (i32.add (local.get $j) (i32.const 4)))
            (br $tail)))
        (local.set $scalarMax (f32.max
          (f32.max (f32x4.extract_lane 0 (local.get $max)) (f32x4.extract_lane 1 (local.get $max)))
          (f32.max (f32x4.extract_lane 2 (local.get $max)) (f32x4.extract_lane 3 (local.get $max)))))
        ;; e = exp(x - max) into probs, summed
        (call $exps (local.get $probs) (local.get $x) (local.get $bytes) (f32.const 1) (local.get $scalarMax))
        (local.set $sum (v128.const f32x4 0 0 0 0))
        (local.set $j (i32.const 0))
        (block $sumDone
          (loop $sums
            (br_if $sumDone (i32.ge_u (local.get $j) (local.get $vectorBytes)))
            (local.set $sum (f32x4.add (local.get $sum) (v128.load (i32.add (local.get $probs) (local.get $j)))))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br $sums)))
        (block $sumTailDone
          (loop $sumTail
            (br_if $sumTailDone (i32.ge_u (local.get $j) (local.get $bytes)))
            ;; one float, added to lane 0 of the sum
            (local.set $sum (f32x4.add (local.get $sum)
              (v128.load32_zero (i32.add (local.get $probs) (local.get $j)))))
            (local.set $j (i32.add (local.get $j) (i32.const 4)))
            (br $sumTail)))
        (f32.store (local.get $stats) (local.get $scalarMax))
        (f32.store offset=4 (local.get $stats)
          (f32.add (f32.add (f32x4.extract_lane 0 (local.get $sum)) (f32x4.extract_lane 1 (local.get $sum)))
            (f32.add (f32x4.extract_lane 2 (local.get $sum)) (f32x4.extract_lane 3 (local.get $sum)))))
        ;; probs /= Σ
        (local.set $scale (f32x4.splat (f32.div (f32.const 1) (f32.load offset=4 (local.get $stats)))))
        (local.set $j (i32.const 0))
        (block $scaleDone
          (loop $scaled
            (br_if $scaleDone (i32.ge_u (local.get $j) (local.get $vectorBytes)))
            (v128.store (i32.add (local.get $probs) (local.get $j))
              (f32x4.mul (v128.load (i32.add (local.get $probs) (local.get $j))) (local.get $scale)))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br $scaled)))
        (block $scaleTailDone
          (loop $scaleTail
            (br_if $scaleTailDone (i32.ge_u (local.get $j) (local.get $bytes)))
            (f32.store (i32.add (local.get $probs) (local.get $j))
              (f32.mul (f32.load (i32.add (local.get $probs) (local.get $j))) (f32x4.extract_lane 0 (local.get $scale))))
            (local.set $j (i32.add (local.get $j) (i32.const 4)))
            (br $scaleTail)))
        (local.set $x (i32.add (local.get $x) (local.get $bytes)))
        (local.set $probs (i32.add (local.get $probs) (local.get $bytes)))
        (local.set $stats (i32.add (local.get $stats) (i32.const 8)))
        (local.set $rows (i32.sub (local.get $rows) (i32.const 1)))
        (br $row))))

  ;; ---- RNN ----

  ;; output [T·B, H] holds X·W_ihᵀ on entry and h_1..h_T on exit: step t adds h_{t-1}·W_hhᵀ (whh packed
  ;; by packB from W_hh transposed) and applies tanh (relu = 0) or relu (relu = 1) to it plus bias
  ;; (b_ih + b_hh).
  (func (export "rnnForward") (param $output i32) (param $whh i32) (param $bias i32) (param $h0 i32)
                              (param $steps i32) (param $batch i32) (param $rows i32) (param $hidden i32)
                              (param $relu i32) (param $apack i32)
    (local $h i32) (local $t i32) (local $hb i32) (local $band i32) (local $j i32) (local $at i32)
    (local.set $hb (i32.shl (local.get $hidden) (i32.const 2)))
    (local.set $h (local.get $h0))
    (loop $steps
      (call $gemm (local.get $h) (local.get $whh) (local.get $output) (local.get $hidden) (local.get $rows)
        (local.get $hidden) (local.get $hidden) (local.get $apack) (i32.const 1))
      (call $addRows (local.get $output) (local.get $bias) (local.get $hb) (local.get $rows))
      (local.set $band (i32.mul (local.get $rows) (local.get $hb)))
      (if (local.get $relu)
        (then
          (local.set $j (i32.const 0))
          (loop $lanes
            (local.set $at (i32.add (local.get $output) (local.get $j)))
            (v128.store (local.get $at) (f32x4.max (v128.load (local.get $at)) (v128.const f32x4 0 0 0 0)))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br_if $lanes (i32.lt_u (local.get $j) (local.get $band)))))
        (else (call $tanhs (local.get $output) (local.get $output) (local.get $band))))
      (local.set $output (i32.add (local.get $output) (local.get $band)))
      ;; h_t is the band just written; the next step's band is (batch - rows) rows on
      (local.set $h (i32.sub (local.get $output) (i32.mul (local.get $rows) (local.get $hb))))
      (local.set $output (i32.add (local.get $output)
        (i32.mul (i32.sub (local.get $batch) (local.get $rows)) (local.get $hb))))
      (local.set $t (i32.add (local.get $t) (i32.const 1)))
      (br_if $steps (i32.lt_u (local.get $t) (local.get $steps)))))

  ;; Backward through time of rnnForward: dGates [T·B, H] for every step, added into the bias grads' partial
  ;; sums [B/4, H] by groups of 4 rows (addGroups); dh [B, H] holds the grad of h_T on entry and that of h0
  ;; on exit; whh is W_hh packed by packB untransposed.
  (func (export "rnnBackward") (param $gradOutput i32) (param $output i32) (param $whh i32) (param $dGates i32)
                               (param $dh i32) (param $sums i32) (param $steps i32) (param $batch i32)
                               (param $rows i32) (param $hidden i32) (param $relu i32) (param $apack i32)
    (local $block i32) (local $band i32) (local $t i32) (local $i i32) (local $at i32) (local $h v128) (local $g v128)
    (local.set $block (i32.shl (i32.mul (local.get $batch) (local.get $hidden)) (i32.const 2)))
    (local.set $band (i32.shl (i32.mul (local.get $rows) (local.get $hidden)) (i32.const 2)))
    (local.set $t (local.get $steps))
    (loop $steps
      (local.set $t (i32.sub (local.get $t) (i32.const 1)))
      (local.set $at (i32.mul (local.get $t) (local.get $block)))
      (call $addInto (local.get $dh) (i32.add (local.get $gradOutput) (local.get $at)) (local.get $band))
      ;; tanh' = 1 - h'², relu' = [h' > 0]
      (local.set $i (i32.const 0))
      (loop $lanes
        (local.set $h (v128.load (i32.add (i32.add (local.get $output) (local.get $at)) (local.get $i))))
        (local.set $g (v128.load (i32.add (local.get $dh) (local.get $i))))
        (v128.store (i32.add (i32.add (local.get $dGates) (local.get $at)) (local.get $i))
          (if (result v128) (local.get $relu)
            (then (v128.and (local.get $g) (f32x4.gt (local.get $h) (v128.const f32x4 0 0 0 0))))
            (else (f32x4.mul (local.get $g)
              (f32x4.sub (v128.const f32x4 1 1 1 1) (f32x4.mul (local.get $h) (local.get $h)))))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br_if $lanes (i32.lt_u (local.get $i) (local.get $band))))
      (call $addGroups (local.get $sums) (i32.add (local.get $dGates) (local.get $at))
        (i32.shl (local.get $hidden) (i32.const 2)) (local.get $rows))
      ;; dh_{t-1} = dGates_t · W_hh
      (call $gemm (i32.add (local.get $dGates) (local.get $at)) (local.get $whh) (local.get $dh)
        (local.get $hidden) (local.get $rows) (local.get $hidden) (local.get $hidden) (local.get $apack) (i32.const 0))
      (br_if $steps (local.get $t))))

  ;; ---- LSTM ----

  ;; One step: gates [B, 4H] holds the pre-activations less the bias on entry and the activated
  ;; i, f, g, o on exit; c' = f⊙c + i⊙g, h' = o⊙tanh(c') and tanh(c') are written at cNext, hNext, tanhNext.
  (func $lstmCell (param $gates i32) (param $bias i32) (param $c i32) (param $cNext i32) (param $hNext i32)
                  (param $tanhNext i32) (param $rows i32) (param $hidden i32)
    (local $hb i32) (local $b i32) (local $j i32) (local $at i32)
    (local.set $hb (i32.shl (local.get $hidden) (i32.const 2)))
    (call $addRows (local.get $gates) (local.get $bias) (i32.shl (local.get $hb) (i32.const 2)) (local.get $rows))
    (loop $rows
      ;; i and f (the first 2H) and o (the last H) take sigmoid, g tanh
      (call $sigmoids (local.get $gates) (local.get $gates) (i32.shl (local.get $hb) (i32.const 1)))
      (local.set $at (i32.add (local.get $gates) (i32.shl (local.get $hb) (i32.const 1))))
      (call $tanhs (local.get $at) (local.get $at) (local.get $hb))
      (local.set $at (i32.add (local.get $at) (local.get $hb)))
      (call $sigmoids (local.get $at) (local.get $at) (local.get $hb))
      ;; c' = f⊙c + i⊙g
      (local.set $j (i32.const 0))
      (loop $lanes
        (local.set $at (i32.add (local.get $gates) (local.get $j)))
        (v128.store (i32.add (local.get $cNext) (local.get $j)) (f32x4.add
          (f32x4.mul (v128.load (i32.add (local.get $at) (local.get $hb))) (v128.load (i32.add (local.get $c) (local.get $j))))
          (f32x4.mul (v128.load (local.get $at))
            (v128.load (i32.add (local.get $at) (i32.shl (local.get $hb) (i32.const 1)))))))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br_if $lanes (i32.lt_u (local.get $j) (local.get $hb))))
      (call $tanhs (local.get $tanhNext) (local.get $cNext) (local.get $hb))
      ;; h' = o⊙tanh(c')
      (local.set $at (i32.add (local.get $gates) (i32.mul (local.get $hb) (i32.const 3))))
      (local.set $j (i32.const 0))
      (loop $lanes
        (v128.store (i32.add (local.get $hNext) (local.get $j))
          (f32x4.mul (v128.load (i32.add (local.get $at) (local.get $j)))
            (v128.load (i32.add (local.get $tanhNext) (local.get $j)))))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br_if $lanes (i32.lt_u (local.get $j) (local.get $hb))))
      (local.set $gates (i32.add (local.get $gates) (i32.shl (local.get $hb) (i32.const 2))))
      (local.set $c (i32.add (local.get $c) (local.get $hb)))
      (local.set $cNext (i32.add (local.get $cNext) (local.get $hb)))
      (local.set $hNext (i32.add (local.get $hNext) (local.get $hb)))
      (local.set $tanhNext (i32.add (local.get $tanhNext) (local.get $hb)))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (br_if $rows (i32.lt_u (local.get $b) (local.get $rows)))))

  ;; gates [T·B, 4H] holds X·W_ihᵀ on entry and the activated i, f, g, o on exit; h_t, c_t and tanh c_t
  ;; go to output, cells and tanhCells [T·B, H]. whh is W_hh packed by packB transposed; bias b_ih + b_hh.
  (func (export "lstmForward") (param $gates i32) (param $whh i32) (param $bias i32) (param $h0 i32)
                               (param $c0 i32) (param $output i32) (param $cells i32) (param $tanhCells i32)
                               (param $steps i32) (param $batch i32) (param $rows i32) (param $hidden i32)
                               (param $apack i32)
    (local $h i32) (local $c i32) (local $t i32) (local $block i32)
    (local.set $block (i32.shl (i32.mul (local.get $batch) (local.get $hidden)) (i32.const 2)))
    (local.set $h (local.get $h0))
    (local.set $c (local.get $c0))
    (loop $steps
      (call $gemm (local.get $h) (local.get $whh) (local.get $gates) (i32.shl (local.get $hidden) (i32.const 2))
        (local.get $rows) (i32.shl (local.get $hidden) (i32.const 2)) (local.get $hidden) (local.get $apack) (i32.const 1))
      (call $lstmCell (local.get $gates) (local.get $bias) (local.get $c) (local.get $cells) (local.get $output)
        (local.get $tanhCells) (local.get $rows) (local.get $hidden))
      (local.set $h (local.get $output))
      (local.set $c (local.get $cells))
      (local.set $gates (i32.add (local.get $gates) (i32.shl (local.get $block) (i32.const 2))))
      (local.set $output (i32.add (local.get $output) (local.get $block)))
      (local.set $cells (i32.add (local.get $cells) (local.get $block)))
      (local.set $tanhCells (i32.add (local.get $tanhCells) (local.get $block)))
      (local.set $t (i32.add (local.get $t) (i32.const 1)))
      (br_if $steps (i32.lt_u (local.get $t) (local.get $steps)))))

  ;; One step back: from dh and dc (the grads of h' and c', [B, H]) the grads of the pre-activation gates
  ;; [B, 4H] into dGates, and of c into dc (in place).
  (func $lstmCellBack (param $dh i32) (param $dc i32) (param $gates i32) (param $c i32) (param $tanhNext i32)
                      (param $dGates i32) (param $rows i32) (param $hidden i32)
    (local $hb i32) (local $b i32) (local $j i32) (local $at i32) (local $out i32)
    (local $i v128) (local $f v128) (local $g v128) (local $o v128) (local $gh v128) (local $tc v128)
    (local $dcell v128)
    (local.set $hb (i32.shl (local.get $hidden) (i32.const 2)))
    (loop $rows
      (local.set $j (i32.const 0))
      (loop $lanes
        (local.set $at (i32.add (local.get $gates) (local.get $j)))
        (local.set $i (v128.load (local.get $at)))
        (local.set $f (v128.load (i32.add (local.get $at) (local.get $hb))))
        (local.set $g (v128.load (i32.add (local.get $at) (i32.shl (local.get $hb) (i32.const 1)))))
        (local.set $o (v128.load (i32.add (local.get $at) (i32.mul (local.get $hb) (i32.const 3)))))
        (local.set $gh (v128.load (i32.add (local.get $dh) (local.get $j))))
        (local.set $tc (v128.load (i32.add (local.get $tanhNext) (local.get $j))))
        ;; dc' total = dc + dh·o·(1 - tanh²c')
        (local.set $dcell (f32x4.add (v128.load (i32.add (local.get $dc) (local.get $j)))
          (f32x4.mul (f32x4.mul (local.get $gh) (local.get $o))
            (f32x4.sub (v128.const f32x4 1 1 1 1) (f32x4.mul (local.get $tc) (local.get $tc))))))
        (local.set $out (i32.add (local.get $dGates) (local.get $j)))
        ;; di = dc'·g·i(1-i), df = dc'·c·f(1-f), dg = dc'·i·(1-g²), do = dh·tanh c'·o(1-o)
        (v128.store (local.get $out) (f32x4.mul (f32x4.mul (local.get $dcell) (local.get $g))
          (f32x4.mul (local.get $i) (f32x4.sub (v128.const f32x4 1 1 1 1) (local.get $i)))))
        (v128.store (i32.add (local.get $out) (local.get $hb))
          (f32x4.mul (f32x4.mul (local.get $dcell) (v128.load (i32.add (local.get $c) (local.get $j))))
            (f32x4.mul (local.get $f) (f32x4.sub (v128.const f32x4 1 1 1 1) (local.get $f)))))
        (v128.store (i32.add (local.get $out) (i32.shl (local.get $hb) (i32.const 1)))
          (f32x4.mul (f32x4.mul (local.get $dcell) (local.get $i))
            (f32x4.sub (v128.const f32x4 1 1 1 1) (f32x4.mul (local.get $g) (local.get $g)))))
        (v128.store (i32.add (local.get $out) (i32.mul (local.get $hb) (i32.const 3)))
          (f32x4.mul (f32x4.mul (local.get $gh) (local.get $tc))
            (f32x4.mul (local.get $o) (f32x4.sub (v128.const f32x4 1 1 1 1) (local.get $o)))))
        ;; dc = dc'·f
        (v128.store (i32.add (local.get $dc) (local.get $j)) (f32x4.mul (local.get $dcell) (local.get $f)))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br_if $lanes (i32.lt_u (local.get $j) (local.get $hb))))
      (local.set $gates (i32.add (local.get $gates) (i32.shl (local.get $hb) (i32.const 2))))
      (local.set $dGates (i32.add (local.get $dGates) (i32.shl (local.get $hb) (i32.const 2))))
      (local.set $dh (i32.add (local.get $dh) (local.get $hb)))
      (local.set $dc (i32.add (local.get $dc) (local.get $hb)))
      (local.set $c (i32.add (local.get $c) (local.get $hb)))
      (local.set $tanhNext (i32.add (local.get $tanhNext) (local.get $hb)))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (br_if $rows (i32.lt_u (local.get $b) (local.get $rows)))))

  ;; Backward through time of lstmForward: dGates [T·B, 4H] for every step, added into the bias grads'
  ;; partial sums [B/4, 4H] by groups of 4 rows (addGroups); dh and dc [B, H] hold the grads of h_T and c_T
  ;; on entry and those of h0 and c0 on exit. whh is W_hh packed by packB untransposed.
  (func (export "lstmBackward") (param $gradOutput i32) (param $gates i32) (param $c0 i32) (param $cells i32)
                                (param $tanhCells i32) (param $whh i32) (param $dGates i32) (param $dh i32)
                                (param $dc i32) (param $sums i32) (param $steps i32) (param $batch i32)
                                (param $rows i32) (param $hidden i32) (param $apack i32)
    (local $block i32) (local $band i32) (local $t i32) (local $at i32) (local $gatesAt i32)
    (local.set $block (i32.shl (i32.mul (local.get $batch) (local.get $hidden)) (i32.const 2)))
    (local.set $band (i32.shl (i32.mul (local.get $rows) (local.get $hidden)) (i32.const 2)))
    (local.set $t (local.get $steps))
    (loop $steps
      (local.set $t (i32.sub (local.get $t) (i32.const 1)))
      (local.set $at (i32.mul (local.get $t) (local.get $block)))
      (local.set $gatesAt (i32.shl (local.get $at) (i32.const 2)))
      (call $addInto (local.get $dh) (i32.add (local.get $gradOutput) (local.get $at)) (local.get $band))
      (call $lstmCellBack (local.get $dh) (local.get $dc) (i32.add (local.get $gates) (local.get $gatesAt))
        (if (result i32) (local.get $t)
          (then (i32.sub (i32.add (local.get $cells) (local.get $at)) (local.get $block)))
          (else (local.get $c0)))
        (i32.add (local.get $tanhCells) (local.get $at)) (i32.add (local.get $dGates) (local.get $gatesAt))
        (local.get $rows) (local.get $hidden))
      (call $addGroups (local.get $sums) (i32.add (local.get $dGates) (local.get $gatesAt))
        (i32.shl (local.get $hidden) (i32.const 4)) (local.get $rows))
      ;; dh_{t-1} = dGates_t · W_hh
      (call $gemm (i32.add (local.get $dGates) (local.get $gatesAt)) (local.get $whh) (local.get $dh)
        (local.get $hidden) (local.get $rows) (local.get $hidden) (i32.shl (local.get $hidden) (i32.const 2))
        (local.get $apack) (i32.const 0))
      (br_if $steps (local.get $t))))

  ;; ---- GRU ----

  ;; gates [T·B, 3H] holds X·W_ihᵀ on entry and the activated r, z, n on exit; h_t goes to output and
  ;; W_hn h_{t-1} + b_hn to hiddenN [T·B, H]; hiddenGates [B, 3H] is scratch for h_{t-1}·W_hhᵀ. whh is
  ;; W_hh packed by packB transposed; bias [4H] is b_ih + b_hh for r and z, then b_in, then b_hn.
  (func (export "gruForward") (param $gates i32) (param $hiddenGates i32) (param $whh i32) (param $bias i32)
                              (param $h0 i32) (param $output i32) (param $hiddenN i32) (param $steps i32)
                              (param $batch i32) (param $rows i32) (param $hidden i32) (param $apack i32)
    (local $h i32) (local $t i32) (local $skip i32) (local $hb i32) (local $b i32) (local $j i32) (local $row i32) (local $hrow i32)
    (local $n v128) (local $hn v128)
    (local.set $hb (i32.shl (local.get $hidden) (i32.const 2)))
    ;; bytes of [H] rows between this band's end in one step and its start in the next
    (local.set $skip (i32.mul (i32.sub (local.get $batch) (local.get $rows)) (local.get $hb)))
    (local.set $h (local.get $h0))
    (loop $steps
      (call $gemm (local.get $h) (local.get $whh) (local.get $hiddenGates) (i32.mul (local.get $hidden) (i32.const 3))
        (local.get $rows) (i32.mul (local.get $hidden) (i32.const 3)) (local.get $hidden) (local.get $apack) (i32.const 0))
      (local.set $b (i32.const 0))
      (local.set $hrow (local.get $hiddenGates))
      (loop $rows
        ;; r, z = σ(x + h_{t-1}·W_hhᵀ + b)
        (local.set $j (i32.const 0))
        (loop $lanes
          (local.set $row (i32.add (local.get $gates) (local.get $j)))
          (v128.store (local.get $row) (f32x4.add
            (f32x4.add (v128.load (local.get $row)) (v128.load (i32.add (local.get $hrow) (local.get $j))))
            (v128.load (i32.add (local.get $bias) (local.get $j)))))
          (local.set $j (i32.add (local.get $j) (i32.const 16)))
          (br_if $lanes (i32.lt_u (local.get $j) (i32.shl (local.get $hb) (i32.const 1)))))
        (call $sigmoids (local.get $gates) (local.get $gates) (i32.shl (local.get $hb) (i32.const 1)))
        ;; n = tanh(x_n + b_in + r⊙(W_hn h + b_hn)), W_hn h + b_hn kept in hiddenN
        (local.set $row (i32.add (local.get $gates) (i32.shl (local.get $hb) (i32.const 1))))
        (local.set $j (i32.const 0))
        (loop $lanes
          (local.set $hn (f32x4.add (v128.load (i32.add (i32.add (local.get $hrow) (i32.shl (local.get $hb) (i32.const 1))) (local.get $j)))
            (v128.load (i32.add (i32.add (local.get $bias) (i32.mul (local.get $hb) (i32.const 3))) (local.get $j)))))
          (v128.store (i32.add (local.get $hiddenN) (local.get $j)) (local.get $hn))
          (v128.store (i32.add (local.get $row) (local.get $j)) (f32x4.add
            (f32x4.add (v128.load (i32.add (local.get $row) (local.get $j)))
              (v128.load (i32.add (i32.add (local.get $bias) (i32.shl (local.get $hb) (i32.const 1))) (local.get $j))))
            (f32x4.mul (v128.load (i32.add (local.get $gates) (local.get $j))) (local.get $hn))))
          (local.set $j (i32.add (local.get $j) (i32.const 16)))
          (br_if $lanes (i32.lt_u (local.get $j) (local.get $hb))))
        (call $tanhs (local.get $row) (local.get $row) (local.get $hb))
        ;; h' = (1-z)⊙n + z⊙h = n + z⊙(h - n)
        (local.set $j (i32.const 0))
        (loop $lanes
          (local.set $n (v128.load (i32.add (local.get $row) (local.get $j))))
          (v128.store (i32.add (local.get $output) (local.get $j))
            (f32x4.add (local.get $n) (f32x4.mul (v128.load (i32.add (i32.add (local.get $gates) (local.get $hb)) (local.get $j)))
              (f32x4.sub (v128.load (i32.add (local.get $h) (local.get $j))) (local.get $n)))))
          (local.set $j (i32.add (local.get $j) (i32.const 16)))
          (br_if $lanes (i32.lt_u (local.get $j) (local.get $hb))))
        (local.set $hrow (i32.add (local.get $hrow) (i32.mul (local.get $hb) (i32.const 3))))
        (local.set $gates (i32.add (local.get $gates) (i32.mul (local.get $hb) (i32.const 3))))
        (local.set $h (i32.add (local.get $h) (local.get $hb)))
        (local.set $output (i32.add (local.get $output) (local.get $hb)))
        (local.set $hiddenN (i32.add (local.get $hiddenN) (local.get $hb)))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (br_if $rows (i32.lt_u (local.get $b) (local.get $rows))))
      ;; h_t is the band just written
      (local.set $h (i32.sub (local.get $output) (i32.mul (local.get $rows) (local.get $hb))))
      (local.set $gates (i32.add (local.get $gates) (i32.mul (local.get $skip) (i32.const 3))))
      (local.set $output (i32.add (local.get $output) (local.get $skip)))
      (local.set $hiddenN (i32.add (local.get $hiddenN) (local.get $skip)))
      (local.set $t (i32.add (local.get $t) (i32.const 1)))
      (br_if $steps (i32.lt_u (local.get $t) (local.get $steps)))))

  ;; Backward through time of gruForward: the input-side and hidden-side gate grads [T·B, 3H] for every
  ;; step, each added into its bias grad's partial sums [B/4, 3H] by groups of 4 rows (addGroups); dh [B, H]
  ;; holds the grad of h_T on entry and that of h0 on exit. whh is W_hh packed untransposed.
  (func (export "gruBackward") (param $gradOutput i32) (param $gates i32) (param $hiddenN i32) (param $h0 i32)
                               (param $output i32) (param $whh i32) (param $dInput i32) (param $dHidden i32)
                               (param $dh i32) (param $sumsIh i32) (param $sumsHh i32) (param $steps i32)
                               (param $batch i32) (param $rows i32) (param $hidden i32) (param $apack i32)
    (local $block i32) (local $hb i32) (local $t i32) (local $at i32) (local $b i32) (local $j i32)
    (local $row i32) (local $state i32) (local $h i32)
    (local $r v128) (local $z v128) (local $n v128) (local $g v128) (local $dn v128) (local $dz v128) (local $dr v128)
    (local.set $hb (i32.shl (local.get $hidden) (i32.const 2)))
    (local.set $block (i32.mul (local.get $batch) (local.get $hb)))
    (local.set $t (local.get $steps))
    (loop $steps
      (local.set $t (i32.sub (local.get $t) (i32.const 1)))
      (local.set $at (i32.mul (local.get $t) (local.get $block)))
      (call $addInto (local.get $dh) (i32.add (local.get $gradOutput) (local.get $at))
        (i32.mul (local.get $rows) (local.get $hb)))
      (local.set $h (if (result i32) (local.get $t)
        (then (i32.sub (i32.add (local.get $output) (local.get $at)) (local.get $block)))
        (else (local.get $h0))))
      (local.set $b (i32.const 0))
      (loop $rows
        (local.set $j (i32.const 0))
        (loop $lanes
          (local.set $row (i32.add (i32.add (i32.mul (local.get $at) (i32.const 3))
            (i32.mul (i32.mul (local.get $b) (local.get $hb)) (i32.const 3))) (local.get $j)))
          (local.set $state (i32.add (i32.mul (local.get $b) (local.get $hb)) (local.get $j)))
          (local.set $r (v128.load (i32.add (local.get $gates) (local.get $row))))
          (local.set $z (v128.load (i32.add (i32.add (local.get $gates) (local.get $row)) (local.get $hb))))
          (local.set $n (v128.load (i32.add (i32.add (local.get $gates) (local.get $row)) (i32.shl (local.get $hb) (i32.const 1)))))
          (local.set $g (v128.load (i32.add (local.get $dh) (local.get $state))))
          ;; dn = g·(1-z)·(1-n²), dz = g·(h - n)·z(1-z), dr = dn·(W_hn h + b_hn)·r(1-r)
          (local.set $dn (f32x4.mul (f32x4.mul (local.get $g) (f32x4.sub (v128.const f32x4 1 1 1 1) (local.get $z)))
            (f32x4.sub (v128.const f32x4 1 1 1 1) (f32x4.mul (local.get $n) (local.get $n)))))
          (local.set $dz (f32x4.mul (f32x4.mul (local.get $g)
              (f32x4.sub (v128.load (i32.add (local.get $h) (local.get $state))) (local.get $n)))
            (f32x4.mul (local.get $z) (f32x4.sub (v128.const f32x4 1 1 1 1) (local.get $z)))))
          (local.set $dr (f32x4.mul (f32x4.mul (local.get $dn)
              (v128.load (i32.add (i32.add (local.get $hiddenN) (local.get $at)) (local.get $state))))
            (f32x4.mul (local.get $r) (f32x4.sub (v128.const f32x4 1 1 1 1) (local.get $r)))))
          (v128.store (i32.add (local.get $dInput) (local.get $row)) (local.get $dr))
          (v128.store (i32.add (i32.add (local.get $dInput) (local.get $row)) (local.get $hb)) (local.get $dz))
          (v128.store (i32.add (i32.add (local.get $dInput) (local.get $row)) (i32.shl (local.get $hb) (i32.const 1)))
            (local.get $dn))
          (v128.store (i32.add (local.get $dHidden) (local.get $row)) (local.get $dr))
          (v128.store (i32.add (i32.add (local.get $dHidden) (local.get $row)) (local.get $hb)) (local.get $dz))
          ;; d(W_hn h + b_hn) = dn·r
          (v128.store (i32.add (i32.add (local.get $dHidden) (local.get $row)) (i32.shl (local.get $hb) (i32.const 1)))
            (f32x4.mul (local.get $dn) (local.get $r)))
          ;; dh direct = g·z
          (v128.store (i32.add (local.get $dh) (local.get $state)) (f32x4.mul (local.get $g) (local.get $z)))
          (local.set $j (i32.add (local.get $j) (i32.const 16)))
          (br_if $lanes (i32.lt_u (local.get $j) (local.get $hb))))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (br_if $rows (i32.lt_u (local.get $b) (local.get $rows))))
      (call $addGroups (local.get $sumsIh) (i32.add (local.get $dInput) (i32.mul (local.get $at) (i32.const 3)))
        (i32.mul (local.get $hb) (i32.const 3)) (local.get $rows))
      (call $addGroups (local.get $sumsHh) (i32.add (local.get $dHidden) (i32.mul (local.get $at) (i32.const 3)))
        (i32.mul (local.get $hb) (i32.const 3)) (local.get $rows))
      ;; dh_{t-1} = g·z + dGates_hh,t · W_hh
      (call $gemm (i32.add (local.get $dHidden) (i32.mul (local.get $at) (i32.const 3))) (local.get $whh)
        (local.get $dh) (local.get $hidden) (local.get $rows) (local.get $hidden)
        (i32.mul (local.get $hidden) (i32.const 3)) (local.get $apack) (i32.const 1))
      (br_if $steps (local.get $t))))
)
