;; sgemm: C[m,n] (+)= op(A)[m,k] · op(B)[k,n] in float32 over row-major buffers, with 128-bit SIMD;
;; C is added to or, like BLAS's beta = 0, overwritten without being read (it may hold anything);
;; packB and sgemmPacked let a B shared by many products (a recurrent weight) be packed once.
;; Assembled by scripts/build-wasm.ts into sgemmWasm.ts (base64); edit this file, then `pnpm build:wasm`.
;;
;; Per k-block of depth KC, B is packed once into panels of 8 columns, then per MC rows A is packed
;; into panels of 4 rows; a 4×8 micro-kernel multiplies one A panel by one B panel. Transposed
;; operands are handled while packing (4×4 shuffles), so no whole matrix is ever copied to transpose.
;; All addresses are byte offsets into the imported memory. Each instance (one per thread) has its own
;; 128-byte scratch tile for the micro-kernel at the address of its `scratch` import.
(module
  (import "env" "memory" (memory 1))
  (import "env" "scratch" (global $scratch i32))

  ;; Depth of a k-block: a B panel (KC·8 floats, 8 KB) stays in L1 while every A panel passes it.
  (global $KC i32 (i32.const 256))
  ;; Rows of A packed at a time: an A block (MC·KC floats, 64 KB) stays in L2.
  (global $MC i32 (i32.const 64))

  ;; Packs X into panels of `width` lanes (4 for A, 8 for B): panel q, row p holds the `width`
  ;; values X(q·width + r, p), zero where q·width + r ≥ count. X(r, p) is the f32 at
  ;; src + r·sr + p·sp (byte strides). A is packed as X = A, B as X = Bᵀ: both panels run along k.
  (func $pack (param $src i32) (param $dst i32) (param $count i32) (param $depth i32)
              (param $sr i32) (param $sp i32) (param $width i32)
    (local $r0 i32) (local $rows i32)
    (block $done
      (loop $panels
        (br_if $done (i32.ge_u (local.get $r0) (local.get $count)))
        (local.set $rows (i32.sub (local.get $count) (local.get $r0)))
        (if (i32.lt_u (local.get $rows) (local.get $width))
          (then
            (call $packScalar (local.get $src) (local.get $dst) (local.get $rows) (i32.const 0)
              (local.get $depth) (local.get $sr) (local.get $sp) (local.get $width)))
          (else
            (if (i32.eq (local.get $sr) (i32.const 4))
              (then
                (call $packRows (local.get $src) (local.get $dst) (local.get $depth) (local.get $sp)
                  (local.get $width)))
              (else
                (if (i32.eq (local.get $sp) (i32.const 4))
                  (then
                    (call $packTransposed (local.get $src) (local.get $dst) (local.get $depth)
                      (local.get $sr) (local.get $width)))
                  (else
                    (call $packScalar (local.get $src) (local.get $dst) (local.get $width) (i32.const 0)
                      (local.get $depth) (local.get $sr) (local.get $sp) (local.get $width))))))))
        (local.set $src (i32.add (local.get $src) (i32.mul (local.get $width) (local.get $sr))))
        (local.set $dst (i32.add (local.get $dst)
          (i32.shl (i32.mul (local.get $width) (local.get $depth)) (i32.const 2))))
        (local.set $r0 (i32.add (local.get $r0) (local.get $width)))
        (br $panels))))

  ;; A full panel whose lanes lie side by side in memory (sr = 4): each row is `width` floats copied.
  (func $packRows (param $src i32) (param $dst i32) (param $depth i32) (param $sp i32) (param $width i32)
    (local $end i32) (local $rowBytes i32)
    (local.set $rowBytes (i32.shl (local.get $width) (i32.const 2)))
    (local.set $end (i32.add (local.get $dst) (i32.mul (local.get $rowBytes) (local.get $depth))))
    (block $done
      (loop $rows
        (br_if $done (i32.ge_u (local.get $dst) (local.get $end)))
        (v128.store (local.get $dst) (v128.load (local.get $src)))
        (if (i32.eq (local.get $width) (i32.const 8))
          (then (v128.store offset=16 (local.get $dst) (v128.load offset=16 (local.get $src)))))
        (local.set $dst (i32.add (local.get $dst) (local.get $rowBytes)))
        (local.set $src (i32.add (local.get $src) (local.get $sp)))
        (br $rows))))

  ;; A full panel whose lanes are rows along k in memory (sp = 4): four lanes by four steps of k
  ;; are loaded as four vectors and transposed with shuffles; steps past a multiple of 4 go scalar.
  (func $packTransposed (param $src i32) (param $dst i32) (param $depth i32) (param $sr i32) (param $width i32)
    (local $p i32) (local $g i32) (local $in i32) (local $out i32) (local $rowBytes i32)
    (local $v0 v128) (local $v1 v128) (local $v2 v128) (local $v3 v128)
    (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    (local.set $rowBytes (i32.shl (local.get $width) (i32.const 2)))
    (block $done
      (loop $steps
        (br_if $done (i32.gt_u (i32.add (local.get $p) (i32.const 4)) (local.get $depth)))
        (local.set $g (i32.const 0))
        (loop $groups
          ;; v_i = X(g + i, p..p+3)
          (local.set $in (i32.add (i32.add (local.get $src) (i32.shl (local.get $p) (i32.const 2)))
            (i32.mul (local.get $g) (local.get $sr))))
          (local.set $v0 (v128.load (local.get $in)))
          (local.set $v1 (v128.load (i32.add (local.get $in) (local.get $sr))))
          (local.set $v2 (v128.load (i32.add (local.get $in) (i32.shl (local.get $sr) (i32.const 1)))))
          (local.set $v3 (v128.load (i32.add (local.get $in) (i32.mul (local.get $sr) (i32.const 3)))))
          ;; t0 = v0[0] v1[0] v0[1] v1[1], t1 = v2[0] v3[0] v2[1] v3[1], t2, t3 likewise for lanes 2, 3
          (local.set $t0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $v0) (local.get $v1)))
          (local.set $t1 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $v2) (local.get $v3)))
          (local.set $t2 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $v0) (local.get $v1)))
          (local.set $t3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $v2) (local.get $v3)))
          ;; row p + j of the panel, lanes g..g+3 = v0[j] v1[j] v2[j] v3[j]
          (local.set $out (i32.add (i32.add (local.get $dst) (i32.mul (local.get $p) (local.get $rowBytes)))
            (i32.shl (local.get $g) (i32.const 2))))
          (v128.store (local.get $out)
            (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t1)))
          (local.set $out (i32.add (local.get $out) (local.get $rowBytes)))
          (v128.store (local.get $out)
            (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t1)))
          (local.set $out (i32.add (local.get $out) (local.get $rowBytes)))
          (v128.store (local.get $out)
            (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t2) (local.get $t3)))
          (local.set $out (i32.add (local.get $out) (local.get $rowBytes)))
          (v128.store (local.get $out)
            (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t2) (local.get $t3)))
          (local.set $g (i32.add (local.get $g) (i32.const 4)))
          (br_if $groups (i32.lt_u (local.get $g) (local.get $width))))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (br $steps)))
    (call $packScalar (local.get $src) (local.get $dst) (local.get $width) (local.get $p)
      (local.get $depth) (local.get $sr) (i32.const 4) (local.get $width)))

  ;; Rows p0..depth of one panel, a value at a time: the edge panels and the strides SIMD cannot use.
  (func $packScalar (param $src i32) (param $dst i32) (param $rows i32) (param $p0 i32) (param $depth i32)
                    (param $sr i32) (param $sp i32) (param $width i32)
    (local $p i32) (local $r i32) (local $out i32)
    (local.set $p (local.get $p0))
    (block $done
      (loop $steps
        (br_if $done (i32.ge_u (local.get $p) (local.get $depth)))
        (local.set $out (i32.add (local.get $dst)
          (i32.shl (i32.mul (local.get $p) (local.get $width)) (i32.const 2))))
        (local.set $r (i32.const 0))
        (loop $lanes
          (f32.store (local.get $out)
            (if (result f32) (i32.lt_u (local.get $r) (local.get $rows))
              (then (f32.load (i32.add (i32.add (local.get $src) (i32.mul (local.get $r) (local.get $sr)))
                (i32.mul (local.get $p) (local.get $sp)))))
              (else (f32.const 0))))
          (local.set $out (i32.add (local.get $out) (i32.const 4)))
          (local.set $r (i32.add (local.get $r) (i32.const 1)))
          (br_if $lanes (i32.lt_u (local.get $r) (local.get $width))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $steps))))

  ;; The micro-kernel: C[4×8 tile at cp] (+)= Apanel(4×kc) · Bpanel(kc×8): added when `add`, else written.
  ;; Accumulator c<r><h> holds row r, columns 4h..4h+3 of the tile: 8 f32x4 registers, plus two for
  ;; the B row and one for the A splat (11 of the 15 xmm registers V8 leaves free; 12 accumulators spill).
  ;; Per step of k: 2 v128.load of B, 4 v128.load32_splat of A, 8 multiply-adds.
  ;; Edge tiles (rows < 4 or cols < 8) are computed whole on zero-padded panels, parked in the
  ;; scratch tile and only their valid part is added into (or written to) C.
  (func $tile (param $ap i32) (param $bp i32) (param $cp i32) (param $ldc i32) (param $kc i32)
              (param $rows i32) (param $cols i32) (param $add i32)
    (local $c00 v128) (local $c01 v128) (local $c10 v128) (local $c11 v128)
    (local $c20 v128) (local $c21 v128) (local $c30 v128) (local $c31 v128)
    (local $b0 v128) (local $b1 v128) (local $a v128) (local $end i32) (local $r i32) (local $j i32)
    (local $at i32) (local $sum f32)
    (local.set $end (i32.add (local.get $ap) (i32.shl (local.get $kc) (i32.const 4))))
    (loop $k
      (local.set $b0 (v128.load (local.get $bp)))
      (local.set $b1 (v128.load offset=16 (local.get $bp)))
      (local.set $a (v128.load32_splat (local.get $ap)))
      (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $a) (local.get $b0))))
      (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $a) (local.get $b1))))
      (local.set $a (v128.load32_splat offset=4 (local.get $ap)))
      (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $a) (local.get $b0))))
      (local.set $c11 (f32x4.add (local.get $c11) (f32x4.mul (local.get $a) (local.get $b1))))
      (local.set $a (v128.load32_splat offset=8 (local.get $ap)))
      (local.set $c20 (f32x4.add (local.get $c20) (f32x4.mul (local.get $a) (local.get $b0))))
      (local.set $c21 (f32x4.add (local.get $c21) (f32x4.mul (local.get $a) (local.get $b1))))
      (local.set $a (v128.load32_splat offset=12 (local.get $ap)))
      (local.set $c30 (f32x4.add (local.get $c30) (f32x4.mul (local.get $a) (local.get $b0))))
      (local.set $c31 (f32x4.add (local.get $c31) (f32x4.mul (local.get $a) (local.get $b1))))
      (local.set $ap (i32.add (local.get $ap) (i32.const 16)))
      (local.set $bp (i32.add (local.get $bp) (i32.const 32)))
      (br_if $k (i32.lt_u (local.get $ap) (local.get $end))))
    (if (i32.and (i32.eq (local.get $rows) (i32.const 4)) (i32.eq (local.get $cols) (i32.const 8)))
      (then
        (if (local.get $add)
          (then
            (local.set $at (local.get $cp))
            (local.set $c00 (f32x4.add (local.get $c00) (v128.load (local.get $at))))
            (local.set $c01 (f32x4.add (local.get $c01) (v128.load offset=16 (local.get $at))))
            (local.set $at (i32.add (local.get $at) (local.get $ldc)))
            (local.set $c10 (f32x4.add (local.get $c10) (v128.load (local.get $at))))
            (local.set $c11 (f32x4.add (local.get $c11) (v128.load offset=16 (local.get $at))))
            (local.set $at (i32.add (local.get $at) (local.get $ldc)))
            (local.set $c20 (f32x4.add (local.get $c20) (v128.load (local.get $at))))
            (local.set $c21 (f32x4.add (local.get $c21) (v128.load offset=16 (local.get $at))))
            (local.set $at (i32.add (local.get $at) (local.get $ldc)))
            (local.set $c30 (f32x4.add (local.get $c30) (v128.load (local.get $at))))
            (local.set $c31 (f32x4.add (local.get $c31) (v128.load offset=16 (local.get $at))))))
        (v128.store (local.get $cp) (local.get $c00))
        (v128.store offset=16 (local.get $cp) (local.get $c01))
        (local.set $cp (i32.add (local.get $cp) (local.get $ldc)))
        (v128.store (local.get $cp) (local.get $c10))
        (v128.store offset=16 (local.get $cp) (local.get $c11))
        (local.set $cp (i32.add (local.get $cp) (local.get $ldc)))
        (v128.store (local.get $cp) (local.get $c20))
        (v128.store offset=16 (local.get $cp) (local.get $c21))
        (local.set $cp (i32.add (local.get $cp) (local.get $ldc)))
        (v128.store (local.get $cp) (local.get $c30))
        (v128.store offset=16 (local.get $cp) (local.get $c31))
        (return)))
    (v128.store offset=0 (global.get $scratch) (local.get $c00))
    (v128.store offset=16 (global.get $scratch) (local.get $c01))
    (v128.store offset=32 (global.get $scratch) (local.get $c10))
    (v128.store offset=48 (global.get $scratch) (local.get $c11))
    (v128.store offset=64 (global.get $scratch) (local.get $c20))
    (v128.store offset=80 (global.get $scratch) (local.get $c21))
    (v128.store offset=96 (global.get $scratch) (local.get $c30))
    (v128.store offset=112 (global.get $scratch) (local.get $c31))
    (loop $rowsLoop
      (local.set $j (i32.const 0))
      (loop $colsLoop
        (local.set $at (i32.add (local.get $cp) (i32.shl (local.get $j) (i32.const 2))))
        (local.set $sum (f32.load (i32.add (global.get $scratch)
          (i32.shl (i32.add (i32.shl (local.get $r) (i32.const 3)) (local.get $j)) (i32.const 2)))))
        (f32.store (local.get $at)
          (if (result f32) (local.get $add)
            (then (f32.add (local.get $sum) (f32.load (local.get $at))))
            (else (local.get $sum))))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br_if $colsLoop (i32.lt_u (local.get $j) (local.get $cols))))
      (local.set $cp (i32.add (local.get $cp) (local.get $ldc)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br_if $rowsLoop (i32.lt_u (local.get $r) (local.get $rows)))))
  ;; C[m,n] (+)= op(A)[m,kc] · Bblock[kc,n] for one k-block whose B is already packed (at bpack): A is
  ;; packed MC rows at a time into apack and every 4×8 tile of C gets one micro-kernel call.
  ;; A(i, p) is the f32 at a + i·sai + p·sap (byte strides); C's rows are ldc floats apart.
  (func $multiplyBlock (param $a i32) (param $sai i32) (param $sap i32) (param $bpack i32) (param $c i32)
                       (param $ldc i32) (param $m i32) (param $n i32) (param $kc i32) (param $apack i32)
                       (param $add i32)
    (local $ic i32) (local $mc i32) (local $jp i32) (local $ip i32)
    (loop $mBlocks
      (local.set $mc (i32.sub (local.get $m) (local.get $ic)))
      (if (i32.gt_u (local.get $mc) (global.get $MC)) (then (local.set $mc (global.get $MC))))
      (call $pack (i32.add (local.get $a) (i32.mul (local.get $ic) (local.get $sai)))
        (local.get $apack) (local.get $mc) (local.get $kc) (local.get $sai) (local.get $sap) (i32.const 4))
      (local.set $jp (i32.const 0))
      (loop $bPanels
        (local.set $ip (i32.const 0))
        (loop $aPanels
          (call $tile
            (i32.add (local.get $apack) (i32.shl (i32.mul (local.get $ip) (local.get $kc)) (i32.const 2)))
            (i32.add (local.get $bpack) (i32.shl (i32.mul (local.get $jp) (local.get $kc)) (i32.const 2)))
            (i32.add (local.get $c) (i32.shl (i32.add (i32.mul (i32.add (local.get $ic) (local.get $ip))
              (local.get $ldc)) (local.get $jp)) (i32.const 2)))
            (i32.shl (local.get $ldc) (i32.const 2))
            (local.get $kc)
            (select (i32.const 4) (i32.sub (local.get $mc) (local.get $ip))
              (i32.ge_u (i32.sub (local.get $mc) (local.get $ip)) (i32.const 4)))
            (select (i32.const 8) (i32.sub (local.get $n) (local.get $jp))
              (i32.ge_u (i32.sub (local.get $n) (local.get $jp)) (i32.const 8)))
            (local.get $add))
          (local.set $ip (i32.add (local.get $ip) (i32.const 4)))
          (br_if $aPanels (i32.lt_u (local.get $ip) (local.get $mc))))
        (local.set $jp (i32.add (local.get $jp) (i32.const 8)))
        (br_if $bPanels (i32.lt_u (local.get $jp) (local.get $n))))
      (local.set $ic (i32.add (local.get $ic) (global.get $MC)))
      (br_if $mBlocks (i32.lt_u (local.get $ic) (local.get $m)))))

  ;; The k-block depth at pc: min(KC, k - pc).
  (func $depthAt (param $pc i32) (param $k i32) (result i32)
    (select (global.get $KC) (i32.sub (local.get $k) (local.get $pc))
      (i32.gt_u (i32.sub (local.get $k) (local.get $pc)) (global.get $KC))))

  ;; C[m,n] (+)= A[m,k]·B[k,n] with A(i, p) at a + i·sai + p·sap and B(p, j) at b + j·sbj + p·sbp (byte
  ;; strides: a stored transpose is a choice of strides) and C's rows ldc floats apart, so a block of a
  ;; larger product is a call too. apack needs MC·KC floats, bpack ⌈n/8⌉·8·KC (both 16-byte aligned).
  ;; C is added to when `accumulate`, else the first k-block writes it (k ≥ 1: with k = 0 C is untouched).
  (func (export "sgemm") (param $a i32) (param $sai i32) (param $sap i32) (param $b i32) (param $sbj i32)
                         (param $sbp i32) (param $c i32) (param $ldc i32) (param $m i32) (param $n i32)
                         (param $k i32) (param $apack i32) (param $bpack i32) (param $accumulate i32)
    (local $pc i32) (local $kc i32)
    (if (i32.or (i32.eqz (local.get $m)) (i32.eqz (local.get $n))) (then (return)))
    (block $kDone
      (loop $kBlocks
        (br_if $kDone (i32.ge_u (local.get $pc) (local.get $k)))
        (local.set $kc (call $depthAt (local.get $pc) (local.get $k)))
        (call $pack (i32.add (local.get $b) (i32.mul (local.get $pc) (local.get $sbp))) (local.get $bpack)
          (local.get $n) (local.get $kc) (local.get $sbj) (local.get $sbp) (i32.const 8))
        (call $multiplyBlock (i32.add (local.get $a) (i32.mul (local.get $pc) (local.get $sap)))
          (local.get $sai) (local.get $sap) (local.get $bpack) (local.get $c) (local.get $ldc) (local.get $m)
          (local.get $n) (local.get $kc) (local.get $apack) (i32.or (local.get $accumulate) (local.get $pc)))
        (local.set $pc (i32.add (local.get $pc) (global.get $KC)))
        (br $kBlocks))))

  ;; Packs all of op(B)[k,n] once, for a B that several products share (a recurrent weight over every
  ;; step of a sequence): k-block pc's panels start at bpack + pc·⌈n/8⌉·8 floats, ⌈n/8⌉·8·k floats in all.
  (func (export "packB") (param $b i32) (param $bpack i32) (param $n i32) (param $k i32) (param $transB i32)
    (local $sbj i32) (local $sbp i32) (local $pc i32) (local $blockBytes i32)
    (local.set $sbj (select (i32.shl (local.get $k) (i32.const 2)) (i32.const 4) (local.get $transB)))
    (local.set $sbp (select (i32.const 4) (i32.shl (local.get $n) (i32.const 2)) (local.get $transB)))
    ;; bytes per row of k in the packed form: ⌈n/8⌉·8 floats
    (local.set $blockBytes (i32.shl (i32.and (i32.add (local.get $n) (i32.const 7)) (i32.const -8)) (i32.const 2)))
    (block $kDone
      (loop $kBlocks
        (br_if $kDone (i32.ge_u (local.get $pc) (local.get $k)))
        (call $pack (i32.add (local.get $b) (i32.mul (local.get $pc) (local.get $sbp)))
          (i32.add (local.get $bpack) (i32.mul (local.get $pc) (local.get $blockBytes)))
          (local.get $n) (call $depthAt (local.get $pc) (local.get $k)) (local.get $sbj) (local.get $sbp)
          (i32.const 8))
        (local.set $pc (i32.add (local.get $pc) (global.get $KC)))
        (br $kBlocks))))

  ;; C[m,n] (+)= A[m,k]·B with A(i, p) at a + i·sai + p·sap (byte strides) as in sgemm, B packed by packB
  ;; (same n and k: B is not packed again), C's rows ldc floats apart, and `accumulate` as in sgemm.
  (func $sgemmPackedB (export "sgemmPackedB") (param $a i32) (param $sai i32) (param $sap i32) (param $bpack i32)
                      (param $c i32) (param $ldc i32) (param $m i32) (param $n i32) (param $k i32) (param $apack i32)
                      (param $accumulate i32)
    (local $pc i32) (local $blockBytes i32)
    (local.set $blockBytes (i32.shl (i32.and (i32.add (local.get $n) (i32.const 7)) (i32.const -8)) (i32.const 2)))
    (if (i32.or (i32.eqz (local.get $m)) (i32.eqz (local.get $n))) (then (return)))
    (block $kDone
      (loop $kBlocks
        (br_if $kDone (i32.ge_u (local.get $pc) (local.get $k)))
        (call $multiplyBlock (i32.add (local.get $a) (i32.mul (local.get $pc) (local.get $sap)))
          (local.get $sai) (local.get $sap)
          (i32.add (local.get $bpack) (i32.mul (local.get $pc) (local.get $blockBytes)))
          (local.get $c) (local.get $ldc) (local.get $m) (local.get $n) (call $depthAt (local.get $pc) (local.get $k))
          (local.get $apack) (i32.or (local.get $accumulate) (local.get $pc)))
        (local.set $pc (i32.add (local.get $pc) (global.get $KC)))
        (br $kBlocks))))

  ;; sgemmPackedB with A row-major (rows k floats apart): a recurrent step's product.
  (func (export "sgemmPacked") (param $a i32) (param $bpack i32) (param $c i32) (param $ldc i32) (param $m i32)
                               (param $n i32) (param $k i32) (param $apack i32) (param $accumulate i32)
    (call $sgemmPackedB (local.get $a) (i32.shl (local.get $k) (i32.const 2)) (i32.const 4) (local.get $bpack)
      (local.get $c) (local.get $ldc) (local.get $m) (local.get $n) (local.get $k) (local.get $apack)
      (local.get $accumulate)))
)
