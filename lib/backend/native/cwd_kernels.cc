// Native convolution kernels for channel-distill's wasm backend (optional; see lib/backend/native.ts).
//
// NHWC float32 convolutions as GEMMs on im2col panels packed on the fly (never materialised),
// with a register-blocked micro-kernel written with GCC vector extensions (AVX-512 / AVX2 when
// compiled with -march=native) and OpenMP threads. The tensors live in the wasm backend's heap:
// the JS side passes Float32Array views of it, so no data is copied in or out.
//
//   conv2d(x, w, y, dims, bias|null, relu)      y = act(conv(x, w) + bias)
//   backpropFilter(x, dy, dw, dims)             dw = conv grad w.r.t. the filter
//   backpropInput(dy, w, dx, dims)              dx = conv grad w.r.t. the input
//   dims = Int32Array [B, H, W, Ci, OH, OW, Co, KH, KW, sh, sw, dh, dw, padTop, padLeft]
#include <node_api.h>
#include <omp.h>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

typedef float v16 __attribute__((vector_size(64), aligned(4)));

static const int KC = 256;
static const int MC = 96;  // rows of A packed at once (a multiple of every MR below)

struct Dims {
  int B, H, W, Ci, OH, OW, Co, KH, KW, sh, sw, dh, dw, pt, pl;
  long M() const { return (long)B * OH * OW; }
  int K() const { return KH * KW * Ci; }
};

static inline v16 loadv(const float* p) { v16 v; std::memcpy(&v, p, sizeof(v)); return v; }
static inline void storev(float* p, v16 v) { std::memcpy(p, &v, sizeof(v)); }

// Register tile: MR rows x (NV*16) columns. Two shapes: 6x32 (12 accumulators) for wide outputs,
// 12x16 for outputs of <= 16 columns (no half-empty vectors).
template <int MR, int NV>
struct Tile {
  static const int NR = NV * 16;
  static const int ROWS = MR;
  // C[mr x nr] (+)= Apanel[kc x MR] * Bpanel[kc x NR]
  static inline void micro(int kc, const float* __restrict A, const float* __restrict B, float* C, long ldc, int mr, int nr, bool acc) {
    v16 c[MR][NV];
    for (int i = 0; i < MR; i++) for (int v = 0; v < NV; v++) c[i][v] = v16{};
    for (int k = 0; k < kc; k++) {
      v16 b[NV];
      for (int v = 0; v < NV; v++) b[v] = loadv(B + k * NR + v * 16);
      const float* a = A + k * MR;
      for (int i = 0; i < MR; i++) for (int v = 0; v < NV; v++) c[i][v] += a[i] * b[v];
    }
    if (nr == NR) {
      for (int i = 0; i < mr; i++) {
        float* cp = C + i * ldc;
        for (int v = 0; v < NV; v++) {
          if (acc) storev(cp + v * 16, loadv(cp + v * 16) + c[i][v]);
          else storev(cp + v * 16, c[i][v]);
        }
      }
    } else {
      float tmp[NR];
      for (int i = 0; i < mr; i++) {
        for (int v = 0; v < NV; v++) storev(tmp + v * 16, c[i][v]);
        float* cp = C + i * ldc;
        if (acc) for (int j = 0; j < nr; j++) cp[j] += tmp[j];
        else for (int j = 0; j < nr; j++) cp[j] = tmp[j];
      }
    }
  }

  // Pack B (kc x n) given by get(k, j) into NR-wide panels: out[(j/NR)][k][NR], zero-padded.
  template <class Get>
  static void packB(int kc, int n, Get get, float* out) {
    for (int j0 = 0; j0 < n; j0 += NR) {
      const int nr = std::min(NR, n - j0);
      float* dst = out + (long)(j0 / NR) * kc * NR;
      for (int k = 0; k < kc; k++) {
        float* d = dst + k * NR;
        for (int j = 0; j < nr; j++) d[j] = get(k, j0 + j);
        for (int j = nr; j < NR; j++) d[j] = 0.f;
      }
    }
  }

  // Pack rows of B from contiguous row data: row r of the block (reduction index) = src[0..n).
  static void packBRow(int kc, int n, int r, const float* src, float* out) {
    for (int j0 = 0; j0 < n; j0 += NR) {
      float* dst = out + (long)(j0 / NR) * kc * NR + (long)r * NR;
      const int nr = std::min(NR, n - j0);
      std::memcpy(dst, src + j0, nr * sizeof(float));
      for (int j = nr; j < NR; j++) dst[j] = 0.f;
    }
  }

  // Pack A rows [m x kc] via a row filler: fill(i, k0, kc, dst, stride) writes A(i, k0..k0+kc) to dst[k*stride].
  template <class Fill>
  static void packA(int m, int k0, int kc, Fill fill, float* out) {
    for (int i0 = 0; i0 < m; i0 += MR) {
      const int mr = std::min(MR, m - i0);
      float* dst = out + (long)(i0 / MR) * kc * MR;
      for (int r = 0; r < mr; r++) fill(i0 + r, k0, kc, dst + r, MR);
      for (int r = mr; r < MR; r++) for (int k = 0; k < kc; k++) dst[k * MR + r] = 0.f;
    }
  }

  // C[m x n] (+)= A[m x kc] B[kc x n] for packed A (m rows) and packed B (one kc block, all n).
  static void gemmPacked(int m, int n, int kc, const float* Ap, const float* Bp, float* C, long ldc, bool acc) {
    for (int j0 = 0; j0 < n; j0 += NR) {
      const float* b = Bp + (long)(j0 / NR) * kc * NR;
      for (int i0 = 0; i0 < m; i0 += MR) {
        micro(kc, Ap + (long)(i0 / MR) * kc * MR, b, C + (long)i0 * ldc + j0, ldc, std::min(MR, m - i0), std::min(NR, n - j0), acc);
      }
    }
  }
  static long panelN(int n) { return ((long)(n + NR - 1) / NR) * NR; }
  static long panelM(int m) { return ((long)(m + MR - 1) / MR) * MR; }
};

typedef Tile<6, 2> Wide;
typedef Tile<12, 1> Narrow;

// Uninitialised float scratch (std::vector would zero-fill it on every call).
struct Buf {
  float* p;
  explicit Buf(long n) : p(new float[n > 0 ? n : 1]) {}
  ~Buf() { delete[] p; }
  Buf(const Buf&) = delete;
  Buf& operator=(const Buf&) = delete;
  float* data() { return p; }
  const float* data() const { return p; }
};

static int g_threads = 0;
static int threads() { return g_threads > 0 ? g_threads : omp_get_max_threads(); }
// Threads for a conv (or matmul) of `flops` multiply-adds: one below 2^23 (~8M, a few ms on one core), where
// waking a second thread and waiting for it at the barrier costs more than it saves, most of all on a
// loaded machine where the other thread may not be scheduled for a time slice. CWD_NATIVE_CONV_PAR_MIN overrides.
static double convParMin() {
  static double v = -1;
  if (v < 0) { const char* e = getenv("CWD_NATIVE_CONV_PAR_MIN"); v = e ? atof(e) : (double)(1L << 23); }
  return v;
}
static int convThreads(double flops) { return flops < convParMin() ? 1 : threads(); }

// im2col row filler: row i = (b, oh, ow), columns k = (kh, kw, ci).
// Walks the taps incrementally (no division per tap: with few input channels, e.g. the 3- or 8-channel
// stems, the index arithmetic cost more than the multiply-adds); with dilation 1 along the width, the
// in-bounds remainder of a filter row (kw .. KW-1, all channels) is one contiguous run of x.
struct Im2col {
  const float* x; Dims d;
  static inline void put(float* o, int stride, const float* s, int n) {
    if (stride == 1) std::memcpy(o, s, sizeof(float) * n);
    else for (int c = 0; c < n; c++) o[(long)c * stride] = s[c];
  }
  static inline void zero(float* o, int stride, int n) {
    if (stride == 1) std::memset(o, 0, sizeof(float) * n);
    else for (int c = 0; c < n; c++) o[(long)c * stride] = 0.f;
  }
  void operator()(long i, int k0, int kc, float* dst, int stride) const {
    const int ow = i % d.OW; const long t = i / d.OW; const int oh = t % d.OH; const int b = t / d.OH;
    const int ih0 = oh * d.sh - d.pt, iw0 = ow * d.sw - d.pl;
    const float* xb = x + (long)b * d.H * d.W * d.Ci;
    const int tap0 = k0 / d.Ci;
    int ci0 = k0 % d.Ci, kh = tap0 / d.KW, kw = tap0 % d.KW;
    int k = k0;
    const int kend = k0 + kc;
    const bool rowRuns = d.dw == 1 && iw0 >= 0 && iw0 + d.KW - 1 < d.W;  // every tap of a filter row in bounds, adjacent
    while (k < kend) {
      const int ih = ih0 + kh * d.dh;
      float* o = dst + (long)(k - k0) * stride;
      if (ih < 0 || ih >= d.H || rowRuns) {
        // the rest of this filter row at once: zeros, or one contiguous run of x
        const int n = std::min((d.KW - kw) * d.Ci - ci0, kend - k);
        if (ih < 0 || ih >= d.H) zero(o, stride, n);
        else put(o, stride, xb + ((long)ih * d.W + iw0 + kw) * d.Ci + ci0, n);
        k += n; kh++; kw = 0; ci0 = 0;
      } else {
        const int n = std::min(d.Ci - ci0, kend - k);
        const int iw = iw0 + kw * d.dw;
        if (iw < 0 || iw >= d.W) zero(o, stride, n);
        else put(o, stride, xb + ((long)ih * d.W + iw) * d.Ci + ci0, n);
        k += n; ci0 = 0;
        if (++kw == d.KW) { kw = 0; kh++; }
      }
    }
  }
};


// The 12x16 tile only for outputs of at most 16 columns (measured: elsewhere 6x32 is faster).
static bool narrowBetter(int n) { return n <= 16; }

// y[M, Co] = im2col(x)[M, K] w[K, Co] (+ bias, relu)
template <class T>
static void conv2dT(const float* x, const float* w, float* y, const Dims& d, const float* bias, int act) {
  const long M = d.M(); const int K = d.K(), N = d.Co;
  const int nkb = (K + KC - 1) / KC;
  const long pn = T::panelN(N);
  Buf Bp((long)K * pn);
  for (int kb = 0; kb < nkb; kb++) {
    const int k0 = kb * KC, kc = std::min(KC, K - k0);
    T::packB(kc, N, [&](int k, int j) { return w[(long)(k0 + k) * N + j]; }, Bp.data() + (long)kb * KC * pn);
  }
  const Im2col fill{x, d};
  const long nblocks = (M + MC - 1) / MC;
#pragma omp parallel num_threads(convThreads((double)M * K * N))
  {
    Buf Ap((long)MC * KC);
#pragma omp for schedule(dynamic, 4)
    for (long blk = 0; blk < nblocks; blk++) {
      const long i0 = blk * MC; const int m = (int)std::min<long>(MC, M - i0);
      for (int kb = 0; kb < nkb; kb++) {
        const int k0 = kb * KC, kc = std::min(KC, K - k0);
        T::packA(m, k0, kc, [&](int r, int kk0, int kkc, float* dst, int st) { fill(i0 + r, kk0, kkc, dst, st); }, Ap.data());
        T::gemmPacked(m, N, kc, Ap.data(), Bp.data() + (long)kb * KC * pn, y + i0 * N, N, kb > 0);
      }
      if (bias || act) {
        for (int r = 0; r < m; r++) {
          float* row = y + (i0 + r) * N;
          if (bias) for (int j = 0; j < N; j++) row[j] += bias[j];
          if (act == 1) for (int j = 0; j < N; j++) row[j] = row[j] > 0.f ? row[j] : 0.f;
          else if (act == 2) for (int j = 0; j < N; j++) row[j] = std::min(std::max(row[j], 0.f), 6.f);
        }
      }
    }
  }
}

static void conv2dImpl(const float* x, const float* w, float* y, const Dims& d, const float* bias, int act) {
  if (narrowBetter(d.Co)) conv2dT<Narrow>(x, w, y, d, bias, act); else conv2dT<Wide>(x, w, y, d, bias, act);
}

// dw^T[Co, K] = dy^T[Co, M] im2col(x)[M, K]; reduction over M split across threads.
template <class T>
static void backpropFilterT(const float* x, const float* dy, float* dwOut, const Dims& d) {
  const long M = d.M(); const int K = d.K(), Co = d.Co;
  const int nt = convThreads((double)M * K * Co);
  std::vector<std::vector<float>> partial(nt);
  const long chunk = KC;
  const long nchunks = (M + chunk - 1) / chunk;
  const Im2col fill{x, d};
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num();
    std::vector<float>& acc = partial[t];
    acc.assign((long)Co * K, 0.f);
    Buf Ap(T::panelM(Co) * KC);
    Buf Bp((long)KC * T::panelN(K));
    Buf rowbuf((long)K);
#pragma omp for schedule(dynamic, 2)
    for (long c = 0; c < nchunks; c++) {
      const long i0 = c * chunk; const int kc = (int)std::min<long>(chunk, M - i0);
      // B = im2col rows i0..i0+kc (reduction dim) x K columns, packed in NR panels
      for (int r = 0; r < kc; r++) {
        fill(i0 + r, 0, K, rowbuf.data(), 1);
        T::packBRow(kc, K, r, rowbuf.data(), Bp.data());
      }
      // A = dy^T: rows co, columns i (reduction)
      T::packA(Co, 0, kc, [&](int co, int, int n, float* dst, int st) {
        const float* s = dy + i0 * Co + co;
        for (int k = 0; k < n; k++) dst[(long)k * st] = s[(long)k * Co];
      }, Ap.data());
      T::gemmPacked(Co, K, kc, Ap.data(), Bp.data(), acc.data(), K, true);
    }
  }
  // dw[K, Co] = sum_t partial_t^T
  for (int k = 0; k < K; k++) {
    for (int co = 0; co < Co; co++) {
      float s = 0.f;
      for (int t = 0; t < nt; t++) s += partial[t][(long)co * K + k];
      dwOut[(long)k * Co + co] = s;
    }
  }
}

// dw[K, Co] = im2col(x)^T[K, M] dy[M, Co]: the orientation for few filter rows K = KH*KW*Ci and more
// output channels (e.g. MobileNetV2's 1x1 8 -> 48 expansion: the tile spans Co, not the 8 rows of K).
// dy rows are packed as they are (contiguous); each im2col row is scattered into the K-row panels.
template <class T>
static void backpropFilterKT(const float* x, const float* dy, float* dwOut, const Dims& d) {
  const long M = d.M(); const int K = d.K(), Co = d.Co;
  const int nt = convThreads((double)M * K * Co);
  std::vector<std::vector<float>> partial(nt);
  const long chunk = KC;
  const long nchunks = (M + chunk - 1) / chunk;
  const Im2col fill{x, d};
  const bool direct = d.KH == 1 && d.KW == 1 && d.sh == 1 && d.sw == 1 && d.pt == 0 && d.pl == 0 && d.OH == d.H && d.OW == d.W;
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num();
    std::vector<float>& acc = partial[t];
    acc.assign((long)K * Co, 0.f);
    const long pm = T::panelM(K);
    Buf Ap(pm * KC);
    Buf Bp((long)KC * T::panelN(Co));
    Buf rowbuf((long)K);
#pragma omp for schedule(dynamic, 2)
    for (long c = 0; c < nchunks; c++) {
      const long i0 = c * chunk; const int kc = (int)std::min<long>(chunk, M - i0);
      float* ap = Ap.data();
      // A = im2col^T: panel (k / MR), reduction index r, lane k % MR; padded lanes are zero
      if (K % T::ROWS) for (long p = (K / T::ROWS) * (long)kc * T::ROWS; p < (pm / T::ROWS) * (long)kc * T::ROWS; p++) ap[p] = 0.f;
      for (int r = 0; r < kc; r++) {
        const float* row;
        if (direct) row = x + (i0 + r) * K;
        else { fill(i0 + r, 0, K, rowbuf.data(), 1); row = rowbuf.data(); }
        for (int k = 0; k < K; k++) ap[(long)(k / T::ROWS) * kc * T::ROWS + (long)r * T::ROWS + (k % T::ROWS)] = row[k];
        T::packBRow(kc, Co, r, dy + (i0 + r) * Co, Bp.data());
      }
      T::gemmPacked(K, Co, kc, Ap.data(), Bp.data(), acc.data(), Co, true);
    }
  }
  for (long i = 0; i < (long)K * Co; i++) {
    float s = 0.f;
    for (int t = 0; t < nt; t++) s += partial[t][i];
    dwOut[i] = s;
  }
}

static void backpropFilterImpl(const float* x, const float* dy, float* dw, const Dims& d) {
  // rows = Co (the 6-row tile wastes least) unless the filter has fewer rows K than channels Co
  if ((d.K() < d.Co && getenv("CWD_NATIVE_BPF_CO_ROWS") == nullptr) || getenv("CWD_NATIVE_BPF_K_ROWS") != nullptr) {
    if (narrowBetter(d.Co)) backpropFilterKT<Narrow>(x, dy, dw, d); else backpropFilterKT<Wide>(x, dy, dw, d);
    return;
  }
  backpropFilterT<Wide>(x, dy, dw, d);
}

// dx = col2im(dy[M, Co] w^T[Co, K]); threads over images (no write races).
template <class T>
static void backpropInputT(const float* dy, const float* w, float* dx, const Dims& d) {
  const int K = d.K(), Co = d.Co;
  const long perImage = (long)d.OH * d.OW;
  const int nkb = (Co + KC - 1) / KC;
  const long pk = T::panelN(K);
  // B = w^T [Co, K], packed once per Co block
  Buf Bp((long)Co * pk);
  for (int kb = 0; kb < nkb; kb++) {
    const int c0 = kb * KC, cc = std::min(KC, Co - c0);
    T::packB(cc, K, [&](int c, int k) { return w[(long)k * Co + c0 + c]; }, Bp.data() + (long)kb * KC * pk);
  }
  std::memset(dx, 0, sizeof(float) * (long)d.B * d.H * d.W * d.Ci);
  const long rowsPerBlock = MC;
  const long blocksPerImage = (perImage + rowsPerBlock - 1) / rowsPerBlock;
  // Parallel over images: the col2im scatter of one image never touches another's rows.
#pragma omp parallel num_threads(convThreads((double)d.M() * K * Co))
  {
    Buf Ap((long)MC * KC);
    Buf col((long)MC * K);
#pragma omp for schedule(dynamic, 1)
    for (int b = 0; b < d.B; b++) {
      for (long blk = 0; blk < blocksPerImage; blk++) {
        const long r0 = blk * rowsPerBlock; const int m = (int)std::min<long>(rowsPerBlock, perImage - r0);
        const long i0 = (long)b * perImage + r0;
        for (int kb = 0; kb < nkb; kb++) {
          const int c0 = kb * KC, cc = std::min(KC, Co - c0);
          T::packA(m, 0, cc, [&](int r, int, int n, float* dst, int st) {
            const float* s = dy + (i0 + r) * Co + c0;
            for (int k = 0; k < n; k++) dst[(long)k * st] = s[k];
          }, Ap.data());
          T::gemmPacked(m, K, cc, Ap.data(), Bp.data() + (long)kb * KC * pk, col.data(), K, kb > 0);
        }
        // col2im: scatter-add the m rows into dx (image b only)
        for (int r = 0; r < m; r++) {
          const long i = r0 + r;
          const int ow = i % d.OW, oh = i / d.OW;
          const int ih0 = oh * d.sh - d.pt, iw0 = ow * d.sw - d.pl;
          const float* s = col.data() + (long)r * K;
          for (int kh = 0; kh < d.KH; kh++) {
            const int ih = ih0 + kh * d.dh;
            if (ih < 0 || ih >= d.H) continue;
            for (int kw = 0; kw < d.KW; kw++) {
              const int iw = iw0 + kw * d.dw;
              if (iw < 0 || iw >= d.W) continue;
              float* o = dx + (((long)b * d.H + ih) * d.W + iw) * d.Ci;
              const float* sc = s + (kh * d.KW + kw) * d.Ci;
              for (int c = 0; c < d.Ci; c++) o[c] += sc[c];
            }
          }
        }
      }
    }
  }
}

static void backpropInputImpl(const float* dy, const float* w, float* dx, const Dims& d) {
  if (d.sh == 1 && d.sw == 1 && (d.Ci > d.Co || d.KH * d.KW == 1) && (d.KH - 1) * d.dh >= d.pt && (d.KW - 1) * d.dw >= d.pl &&
      getenv("CWD_NATIVE_BPI_COL2IM") == nullptr) {
    // Stride 1 with more input than output channels (or a 1x1 filter): dx is a plain convolution of dy
    // with the flipped, in/out-swapped filter (GEMM over Co*KH*KW, no zero-fill and col2im scatter of
    // Ci*KH*KW columns; for 1x1 it is the GEMM dy[M, Co] w^T[Co, Ci] written straight into dx).
    std::vector<float> wt((long)d.KH * d.KW * d.Co * d.Ci);
    for (int kh = 0; kh < d.KH; kh++)
      for (int kw = 0; kw < d.KW; kw++) {
        const float* src = w + ((long)((d.KH - 1 - kh) * d.KW + (d.KW - 1 - kw))) * d.Ci * d.Co;
        float* dst = wt.data() + ((long)(kh * d.KW + kw)) * d.Co * d.Ci;
        for (int ci = 0; ci < d.Ci; ci++)
          for (int co = 0; co < d.Co; co++) dst[(long)co * d.Ci + ci] = src[(long)ci * d.Co + co];
      }
    Dims t = d;
    t.H = d.OH; t.W = d.OW; t.Ci = d.Co; t.OH = d.H; t.OW = d.W; t.Co = d.Ci;
    t.pt = (d.KH - 1) * d.dh - d.pt; t.pl = (d.KW - 1) * d.dw - d.pl;
    conv2dImpl(dy, wt.data(), dx, t, nullptr, 0);
    return;
  }
  if (narrowBetter(d.K())) backpropInputT<Narrow>(dy, w, dx, d); else backpropInputT<Wide>(dy, w, dx, d);
}



// ---- batched matmul ---------------------------------------------------------------------------
// C[b] = op(A[b]) op(B[b]) with A [M,K] (or [K,M] if transA), B [K,N] (or [N,K] if transB); a batch
// of 1 broadcasts. Both operands are packed once per batch, then tiles run in parallel.
// Thin products (M < 16 rows, B not transposed): C rows updated by axpys over column chunks of B,
// so B and C are streamed once (the packed GEMM would copy all of B to pack it).
static void matmulThin(const float* A, const float* B, float* C, int M, int K, int N, bool ta) {
  const int CH = 2048;
#pragma omp parallel for num_threads(convThreads((double)M * K * N)) schedule(dynamic, 1)
  for (int j0 = 0; j0 < N; j0 += CH) {
    const int n = std::min(CH, N - j0);
    for (int i = 0; i < M; i++) std::memset(C + (long)i * N + j0, 0, sizeof(float) * n);
    for (int k = 0; k < K; k++) {
      const float* brow = B + (long)k * N + j0;
      for (int i = 0; i < M; i++) {
        const float aik = ta ? A[(long)k * M + i] : A[(long)i * K + k];
        if (aik == 0.f) continue;
        float* crow = C + (long)i * N + j0;
        for (int j = 0; j < n; j++) crow[j] += aik * brow[j];
      }
    }
  }
}

static void matmulImpl(const float* a, const float* b, float* c, long batchA, long batchB, int M, int K, int N, bool ta, bool tb) {
  if (M < 16 && !tb) {
    const long batch = std::max(batchA, batchB);
    for (long bi = 0; bi < batch; bi++)
      matmulThin(a + (batchA == 1 ? 0 : bi) * (long)M * K, b + (batchB == 1 ? 0 : bi) * (long)K * N, c + bi * (long)M * N, M, K, N, ta);
    return;
  }
  typedef Wide T;
  const long batch = std::max(batchA, batchB);
  const int nkb = (K + KC - 1) / KC;
  const long pm = T::panelM(M), pn = T::panelN(N);
  Buf Ap((long)K * pm), Bp((long)K * pn);
  const int NCOLS = 256;  // columns per tile (multiple of NR)
  const long mTiles = (M + MC - 1) / MC, nTiles = (N + NCOLS - 1) / NCOLS;
  const int nt = convThreads((double)M * K * N);
  for (long bi = 0; bi < batch; bi++) {
    const float* A = a + (batchA == 1 ? 0 : bi) * (long)M * K;
    const float* B = b + (batchB == 1 ? 0 : bi) * (long)K * N;
    float* C = c + bi * (long)M * N;
    if (bi == 0 || batchA != 1) {
      for (int kb = 0; kb < nkb; kb++) {
        const int k0 = kb * KC, kc = std::min(KC, K - k0);
        float* dst = Ap.data() + (long)k0 * pm;
        for (int i0 = 0; i0 < M; i0 += MC) {
          const int m = std::min(MC, M - i0);
          T::packA(m, k0, kc, [&](int r, int kk0, int n, float* d, int st) {
            const long i = i0 + r;
            if (ta) for (int k = 0; k < n; k++) d[(long)k * st] = A[(long)(kk0 + k) * M + i];
            else { const float* src = A + i * K + kk0; for (int k = 0; k < n; k++) d[(long)k * st] = src[k]; }
          }, dst + (long)i0 * kc);
        }
      }
    }
    if (bi == 0 || batchB != 1) {
      for (int kb = 0; kb < nkb; kb++) {
        const int k0 = kb * KC, kc = std::min(KC, K - k0);
        if (tb) T::packB(kc, N, [&](int k, int j) { return B[(long)j * K + k0 + k]; }, Bp.data() + (long)k0 * pn);
        else T::packB(kc, N, [&](int k, int j) { return B[(long)(k0 + k) * N + j]; }, Bp.data() + (long)k0 * pn);
      }
    }
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) collapse(2)
    for (long mt = 0; mt < mTiles; mt++) {
      for (long ntile = 0; ntile < nTiles; ntile++) {
        const int i0 = (int)(mt * MC), m = std::min(MC, M - i0);
        const int j0 = (int)(ntile * NCOLS), n = std::min(NCOLS, N - j0);
        for (int kb = 0; kb < nkb; kb++) {
          const int kc = std::min(KC, K - kb * KC);
          const float* ap = Ap.data() + (long)kb * KC * pm + (long)i0 * kc;
          const float* bp = Bp.data() + (long)kb * KC * pn + (long)(j0 / T::NR) * kc * T::NR;  // kb*KC == k0
          T::gemmPacked(m, n, kc, ap, bp, C + (long)i0 * N + j0, N, kb > 0);
        }
      }
    }
  }
}


// ---- slice (rank <= 4, any 4-byte dtype) --------------------------------------------------------
static void sliceImpl(const float* x, float* o, const int* shape, const int* begin, const int* size) {
  const long C = shape[3], W = shape[2], H = shape[1];
  const long run = size[3];
  float* dst = o;
  for (int b = 0; b < size[0]; b++)
    for (int h = 0; h < size[1]; h++) {
      const float* row = x + (((long)(b + begin[0]) * H + (h + begin[1])) * W + begin[2]) * C + begin[3];
      if (run == C && size[2] == W) { std::memcpy(dst, row, sizeof(float) * run * W); dst += run * W; continue; }
      for (int w = 0; w < size[2]; w++) {
        const float* src = row + (long)w * C;
        if (run == 1) *dst = *src; else std::memcpy(dst, src, sizeof(float) * run);
        dst += run;
      }
    }
}


// ---- pooling gradients ---------------------------------------------------------------------------
// p = [B, H, W, C, OH, OW, fh, fw, sh, sw, padTop, padLeft]
// avgPoolGrad: dx[window] += dy * scale over every window (scale = 1 / window area, as tfjs).
static void avgPoolGradImpl(const float* dy, float* dx, const int* p, float scale) {
  const int B = p[0], H = p[1], W = p[2], C = p[3], OH = p[4], OW = p[5], fh = p[6], fw = p[7], sh = p[8], sw = p[9], pt = p[10], pl = p[11];
  std::memset(dx, 0, sizeof(float) * (long)B * H * W * C);
  for (int b = 0; b < B; b++)
    for (int oh = 0; oh < OH; oh++)
      for (int ow = 0; ow < OW; ow++) {
        const float* g = dy + (((long)b * OH + oh) * OW + ow) * C;
        for (int i = 0; i < fh; i++) {
          const int ih = oh * sh - pt + i;
          if (ih < 0 || ih >= H) continue;
          for (int j = 0; j < fw; j++) {
            const int iw = ow * sw - pl + j;
            if (iw < 0 || iw >= W) continue;
            float* o = dx + (((long)b * H + ih) * W + iw) * C;
            for (int c = 0; c < C; c++) o[c] += g[c] * scale;
          }
        }
      }
}

// maxPoolGrad: dy goes to the first maximum of each window (row-major window order, as tfjs cpu).
static void maxPoolGradImpl(const float* x, const float* dy, float* dx, const int* p) {
  const int B = p[0], H = p[1], W = p[2], C = p[3], OH = p[4], OW = p[5], fh = p[6], fw = p[7], sh = p[8], sw = p[9], pt = p[10], pl = p[11];
  std::memset(dx, 0, sizeof(float) * (long)B * H * W * C);
  std::vector<float> best(C);
  std::vector<long> arg(C);
  for (int b = 0; b < B; b++)
    for (int oh = 0; oh < OH; oh++)
      for (int ow = 0; ow < OW; ow++) {
        std::fill(best.begin(), best.end(), -INFINITY);
        std::fill(arg.begin(), arg.end(), -1L);
        for (int i = 0; i < fh; i++) {
          const int ih = oh * sh - pt + i;
          if (ih < 0 || ih >= H) continue;
          for (int j = 0; j < fw; j++) {
            const int iw = ow * sw - pl + j;
            if (iw < 0 || iw >= W) continue;
            const long base = (((long)b * H + ih) * W + iw) * C;
            const float* xv = x + base;
            for (int c = 0; c < C; c++) if (arg[c] < 0 || xv[c] > best[c]) { best[c] = xv[c]; arg[c] = base + c; }
          }
        }
        const float* g = dy + (((long)b * OH + oh) * OW + ow) * C;
        for (int c = 0; c < C; c++) if (arg[c] >= 0) dx[arg[c]] += g[c];
      }
}


// ---- oneHot ----------------------------------------------------------------------------------------
static void oneHotImpl(const int32_t* idx, float* o, long n, int depth, float on, float off) {
  for (long i = 0; i < n; i++) {
    float* row = o + i * depth;
    for (int d = 0; d < depth; d++) row[d] = off;
    const int32_t v = idx[i];
    if (v >= 0 && v < depth) row[v] = on;
  }
}


// ---- resizeBilinear gradient (honours halfPixelCenters, unlike tfjs 4.22's kernels) ----------------
// p = [B, IH, IW, C, OH, OW], flags: alignCorners, halfPixelCenters. Same source-index formula as
// the forward kernel (TF's): src = ratio*(o+0.5)-0.5 or ratio*o; lo = max(0, floor), hi = min(in-1, ceil).
static void axisWeights(int in, int out, bool align, bool half, std::vector<int>& lo, std::vector<int>& hi, std::vector<float>& fr) {
  const double effIn = (align && out > 1) ? in - 1 : in, effOut = (align && out > 1) ? out - 1 : out;
  const double ratio = effIn / effOut;
  lo.resize(out); hi.resize(out); fr.resize(out);
  for (int o = 0; o < out; o++) {
    const double src = half ? ratio * (o + 0.5) - 0.5 : ratio * o;
    const int l = std::max(0, (int)std::floor(src));
    lo[o] = l; hi[o] = std::min(in - 1, (int)std::ceil(src)); fr[o] = (float)(src - l);
  }
}

static void resizeBilinearGradImpl(const float* dy, float* dx, const int* p, bool align, bool half) {
  const int B = p[0], IH = p[1], IW = p[2], C = p[3], OH = p[4], OW = p[5];
  std::vector<int> hlo, hhi, wlo, whi; std::vector<float> hfr, wfr;
  axisWeights(IH, OH, align, half, hlo, hhi, hfr);
  axisWeights(IW, OW, align, half, wlo, whi, wfr);
  std::memset(dx, 0, sizeof(float) * (long)B * IH * IW * C);
#pragma omp parallel for num_threads(convThreads((double)B * OH * OW * C * 4)) schedule(static)
  for (int b = 0; b < B; b++) {
    for (int oh = 0; oh < OH; oh++) {
      const float fy = hfr[oh];
      float* top = dx + ((long)b * IH + hlo[oh]) * IW * C;
      float* bot = dx + ((long)b * IH + hhi[oh]) * IW * C;
      for (int ow = 0; ow < OW; ow++) {
        const float fx = wfr[ow];
        const float* g = dy + (((long)b * OH + oh) * OW + ow) * C;
        const float w00 = (1 - fy) * (1 - fx), w01 = (1 - fy) * fx, w10 = fy * (1 - fx), w11 = fy * fx;
        float* tl = top + (long)wlo[ow] * C; float* tr = top + (long)whi[ow] * C;
        float* bl = bot + (long)wlo[ow] * C; float* br = bot + (long)whi[ow] * C;
        for (int c = 0; c < C; c++) { const float v = g[c]; tl[c] += v * w00; tr[c] += v * w01; bl[c] += v * w10; br[c] += v * w11; }
      }
    }
  }
}


// ---- depthwise conv gradients (channel multiplier M; Dims.Co = Ci * M) ------------------------------
static void dwBackpropFilterImpl(const float* x, const float* dy, float* dw, const Dims& d) {
  const int C = d.Ci, M = d.Co / d.Ci, K = d.KH * d.KW;
  const long n = (long)K * C * M;
  const long rows = (long)d.B * d.OH;
  const int nt = convThreads((double)d.M() * K * d.Co);
  std::vector<std::vector<double>> part(nt);
#pragma omp parallel num_threads(nt)
  {
    std::vector<double>& acc = part[omp_get_thread_num()];
    acc.assign(n, 0.0);
    Buf row(n);
#pragma omp for schedule(dynamic, 4)
    for (long r = 0; r < rows; r++) {
      const int b = (int)(r / d.OH), oh = (int)(r % d.OH);
      std::memset(row.data(), 0, sizeof(float) * n);
      for (int ow = 0; ow < d.OW; ow++) {
        const float* g = dy + (((long)b * d.OH + oh) * d.OW + ow) * d.Co;
        for (int kh = 0; kh < d.KH; kh++) {
          const int ih = oh * d.sh - d.pt + kh * d.dh;
          if (ih < 0 || ih >= d.H) continue;
          for (int kw = 0; kw < d.KW; kw++) {
            const int iw = ow * d.sw - d.pl + kw * d.dw;
            if (iw < 0 || iw >= d.W) continue;
            const float* xv = x + (((long)b * d.H + ih) * d.W + iw) * C;
            float* a = row.data() + (long)(kh * d.KW + kw) * C * M;
            if (M == 1) for (int c = 0; c < C; c++) a[c] += xv[c] * g[c];
            else for (int c = 0; c < C; c++) for (int m = 0; m < M; m++) a[c * M + m] += xv[c] * g[c * M + m];
          }
        }
      }
      for (long i = 0; i < n; i++) acc[i] += row.data()[i];
    }
  }
  for (long i = 0; i < n; i++) { double sum = 0; for (int t = 0; t < nt; t++) sum += part[t][i]; dw[i] = (float)sum; }
}

static void dwBackpropInputImpl(const float* dy, const float* w, float* dx, const Dims& d) {
  const int C = d.Ci, M = d.Co / d.Ci;
  std::memset(dx, 0, sizeof(float) * (long)d.B * d.H * d.W * C);
#pragma omp parallel for num_threads(convThreads((double)d.M() * d.KH * d.KW * d.Co)) schedule(dynamic, 1)
  for (int b = 0; b < d.B; b++)
    for (int oh = 0; oh < d.OH; oh++)
      for (int ow = 0; ow < d.OW; ow++) {
        const float* g = dy + (((long)b * d.OH + oh) * d.OW + ow) * d.Co;
        for (int kh = 0; kh < d.KH; kh++) {
          const int ih = oh * d.sh - d.pt + kh * d.dh;
          if (ih < 0 || ih >= d.H) continue;
          for (int kw = 0; kw < d.KW; kw++) {
            const int iw = ow * d.sw - d.pl + kw * d.dw;
            if (iw < 0 || iw >= d.W) continue;
            float* o = dx + (((long)b * d.H + ih) * d.W + iw) * C;
            const float* wk = w + (long)(kh * d.KW + kw) * C * M;
            if (M == 1) for (int c = 0; c < C; c++) o[c] += wk[c] * g[c];
            else for (int c = 0; c < C; c++) { float s = 0; for (int m = 0; m < M; m++) s += wk[c * M + m] * g[c * M + m]; o[c] += s; }
          }
        }
      }
}

// Memory-bound kernels (element-wise, reductions, batch norm, optimiser updates): one thread below
// EW_PAR_MIN elements, all threads above. Waking a second thread costs more than it saves on a small
// tensor (measured on 2 shared cores: two single-thread processes trained ~2.7x the throughput of one
// 2-thread process at 128x128), while a large pass (tens of MB) gains from a second core's bandwidth.
// CWD_NATIVE_EW_PAR_MIN=<elements> overrides the threshold.
static long ewParMin() {
  static long v = -1;
  if (v < 0) { const char* e = getenv("CWD_NATIVE_EW_PAR_MIN"); v = e ? atol(e) : (1L << 20); }
  return v;
}
static int memThreads(long n) { return n >= ewParMin() ? threads() : 1; }

// Depthwise forward: y[b, oh, ow, c*M + m] = act(sum_taps x[b, ih, iw, c] w[kh, kw, c, m] + bias).
// Threads over output rows (b, oh); each row accumulates tap by tap into y (contiguous over channels).
static void dwConv2dImpl(const float* x, const float* w, float* y, const Dims& d, const float* bias, int act) {
  const int C = d.Ci, M = d.Co / d.Ci, Co = d.Co;
  const long rows = (long)d.B * d.OH;
#pragma omp parallel for num_threads(convThreads((double)d.M() * d.KH * d.KW * Co)) schedule(static)
  for (long r = 0; r < rows; r++) {
    const int b = (int)(r / d.OH), oh = (int)(r % d.OH);
    float* yrow = y + r * d.OW * Co;
    for (int ow = 0; ow < d.OW; ow++) {
      float* o = yrow + (long)ow * Co;
      if (bias) std::memcpy(o, bias, sizeof(float) * Co); else std::memset(o, 0, sizeof(float) * Co);
      for (int kh = 0; kh < d.KH; kh++) {
        const int ih = oh * d.sh - d.pt + kh * d.dh;
        if (ih < 0 || ih >= d.H) continue;
        for (int kw = 0; kw < d.KW; kw++) {
          const int iw = ow * d.sw - d.pl + kw * d.dw;
          if (iw < 0 || iw >= d.W) continue;
          const float* xv = x + (((long)b * d.H + ih) * d.W + iw) * C;
          const float* wk = w + (long)(kh * d.KW + kw) * Co;
          if (M == 1) for (int c = 0; c < C; c++) o[c] += xv[c] * wk[c];
          else for (int c = 0; c < C; c++) for (int m = 0; m < M; m++) o[c * M + m] += xv[c] * wk[c * M + m];
        }
      }
      if (act == 1) for (int j = 0; j < Co; j++) o[j] = o[j] > 0.f ? o[j] : 0.f;
      else if (act == 2) for (int j = 0; j < Co; j++) o[j] = std::min(std::max(o[j], 0.f), 6.f);
    }
  }
}

// ---- training-mode batch normalisation over the rows of x[rows, C] (N*H*W rows, NHWC) -----------
// Forward: mean, biased variance (two passes, double accumulators), y = (x - mean) * rstd * gamma + beta,
// rstd = 1 / sqrt(var + eps). Backward (xhat = (x - mean) * rstd, recomputed from x):
//   dbeta = sum dy, dgamma = sum dy * xhat, dx = gamma * rstd * (dy - dbeta / n - xhat * dgamma / n).
// Memory-bound: threads above EW_PAR_MIN elements (memThreads).
// Column sums over row blocks of 64 (float within a block, double across blocks), per-thread partials.
template <class RowFn>
static void columnSums(long rows, long C, int nt, int nout, std::vector<double>& out, RowFn rowFn) {
  std::vector<double> part((long)nt * nout * C, 0.0);
#pragma omp parallel num_threads(nt)
  {
    double* acc = part.data() + (long)omp_get_thread_num() * nout * C;
    std::vector<float> blk((long)nout * C);
#pragma omp for schedule(static)
    for (long r0 = 0; r0 < rows; r0 += 64) {
      const long r1 = std::min(rows, r0 + 64);
      std::fill(blk.begin(), blk.end(), 0.f);
      for (long r = r0; r < r1; r++) rowFn(r, blk.data());
      for (long j = 0; j < (long)nout * C; j++) acc[j] += blk[j];
    }
  }
  out.assign((long)nout * C, 0.0);
  for (int t = 0; t < nt; t++) for (long j = 0; j < (long)nout * C; j++) out[j] += part[(long)t * nout * C + j];
}

static void bnForwardImpl(const float* x, const float* gamma, const float* beta, float* y, float* mean, float* var, long rows, long C, double eps) {
  const int nt = memThreads(rows * C);
  std::vector<double> s, q;
  columnSums(rows, C, nt, 1, s, [&](long r, float* b) { const float* row = x + r * C; for (long j = 0; j < C; j++) b[j] += row[j]; });
  std::vector<float> m(C), scale(C), shift(C);
  for (long j = 0; j < C; j++) m[j] = (float)(s[j] / rows);
  const float* mp = m.data();
  columnSums(rows, C, nt, 1, q, [&](long r, float* b) { const float* row = x + r * C; for (long j = 0; j < C; j++) { const float t = row[j] - mp[j]; b[j] += t * t; } });
  for (long j = 0; j < C; j++) {
    const double v = q[j] / rows;
    mean[j] = m[j]; var[j] = (float)v;
    const float rstd = (float)(1.0 / std::sqrt(v + eps));
    scale[j] = rstd * gamma[j];
    shift[j] = beta[j] - m[j] * scale[j];
  }
  const float* sc = scale.data(); const float* sh = shift.data();
#pragma omp parallel for num_threads(nt) schedule(static)
  for (long r = 0; r < rows; r++) {
    const float* row = x + r * C; float* out = y + r * C;
    for (long j = 0; j < C; j++) out[j] = row[j] * sc[j] + sh[j];
  }
}

static void bnBackwardImpl(const float* dy, const float* x, const float* mean, const float* var, const float* gamma, float* dx, float* dgamma, float* dbeta,
                           long rows, long C, double eps) {
  const int nt = memThreads(rows * C);
  std::vector<float> rstd(C), a(C), b(C), c0(C);
  for (long j = 0; j < C; j++) rstd[j] = (float)(1.0 / std::sqrt((double)var[j] + eps));
  // sums[0..C) = sum dy, sums[C..2C) = sum dy * (x - mean)
  std::vector<double> sums;
  columnSums(rows, C, nt, 2, sums, [&](long r, float* blk) {
    const float* g = dy + r * C; const float* row = x + r * C;
    for (long j = 0; j < C; j++) { blk[j] += g[j]; blk[C + j] += g[j] * (row[j] - mean[j]); }
  });
  // dx = k * (dy - dbeta/n - xhat * dgamma/n), k = gamma * rstd, xhat = (x - mean) * rstd
  //    = k * dy + a * x + b  with  a = -k * rstd * dgamma / n,  b = -k * dbeta / n - a * mean
  for (long j = 0; j < C; j++) {
    const double db = sums[j], dg = sums[C + j] * rstd[j];
    dbeta[j] = (float)db; dgamma[j] = (float)dg;
    const double k = (double)gamma[j] * rstd[j];
    const double aa = -k * rstd[j] * dg / rows;
    c0[j] = (float)k; a[j] = (float)aa; b[j] = (float)(-k * db / rows - aa * mean[j]);
  }
  const float* cp = c0.data(); const float* ap = a.data(); const float* bp = b.data();
#pragma omp parallel for num_threads(nt) schedule(static)
  for (long r = 0; r < rows; r++) {
    const float* g = dy + r * C; const float* row = x + r * C; float* o = dx + r * C;
    for (long j = 0; j < C; j++) o[j] = cp[j] * g[j] + ap[j] * row[j] + bp[j];
  }
}

// moving <- moving - (moving - batch) * (1 - momentum), for the mean and the variance (C each)
static void bnMovingImpl(const float* mm, const float* mv, const float* m, const float* v, float* om, float* ov, long C, float momentum) {
  const float k = 1.f - momentum;
  for (long j = 0; j < C; j++) { om[j] = mm[j] - (mm[j] - m[j]) * k; ov[j] = mv[j] - (mv[j] - v[j]) * k; }
}

// ---- optimiser updates (lib/train/optim.ts formulas, float32 in the same order) ------------------
// SGD: g' = g + wd*w; v' = mom*v + g' (g' when mom == 0); w' = w - lr*v'
// Adam: g' = g + wd*w; m' = b1*m + (1-b1)*g'; s' = b2*s + (1-b2)*g'^2; w' = w - lr*(m'/bc1) / (sqrt(s'/bc2) + eps)
static void sgdUpdateImpl(const float* w, const float* g, const float* v, float* wo, float* vo, long n, float lr, float mom, float wd) {
#pragma omp parallel for num_threads(memThreads(n)) schedule(static)
  for (long i = 0; i < n; i++) {
    float gi = g[i];
    if (wd > 0.f) gi = gi + w[i] * wd;
    const float vn = mom > 0.f ? v[i] * mom + gi : gi;
    vo[i] = vn;
    wo[i] = w[i] - vn * lr;
  }
}

static void adamUpdateImpl(const float* w, const float* g, const float* m, const float* s, float* wo, float* mo, float* so, long n,
                           float lr, float b1, float b2, float eps, float wd, float bc1, float bc2) {
#pragma omp parallel for num_threads(memThreads(n)) schedule(static)
  for (long i = 0; i < n; i++) {
    float gi = g[i];
    if (wd > 0.f) gi = gi + w[i] * wd;
    const float mn = m[i] * b1 + gi * (1.f - b1);
    const float sn = s[i] * b2 + (gi * gi) * (1.f - b2);
    mo[i] = mn; so[i] = sn;
    const float mh = mn / bc1, sh = sn / bc2;
    wo[i] = w[i] - lr * (mh / (std::sqrt(sh) + eps));
  }
}

// ---- element-wise and reductions (memory-bound; threaded above EW_PAR_MIN elements, see memThreads) --

// mode: 0 same shape, 1 b per column (b[c]), 2 a per column, 3 b scalar, 4 a scalar,
//       5 b per row (b[rows]), 6 a per row. op: 0 add, 1 sub, 2 mul, 3 div.
template <int OP>
static inline float bop(float a, float b) {
  if (OP == 0) return a + b;
  if (OP == 1) return a - b;
  if (OP == 2) return a * b;
  return a / b;
}

template <int OP>
static void binaryT(const float* a, const float* b, float* o, long rows, long c, int mode) {
  const long n = rows * c;
#pragma omp parallel for num_threads(memThreads(n)) schedule(static)
  for (long r = 0; r < rows; r++) {
    const long base = r * c;
    float* out = o + base;
    switch (mode) {
      case 0: { const float* x = a + base; const float* y = b + base; for (long j = 0; j < c; j++) out[j] = bop<OP>(x[j], y[j]); break; }
      case 1: { const float* x = a + base; for (long j = 0; j < c; j++) out[j] = bop<OP>(x[j], b[j]); break; }
      case 2: { const float* y = b + base; for (long j = 0; j < c; j++) out[j] = bop<OP>(a[j], y[j]); break; }
      case 3: { const float* x = a + base; const float y = b[0]; for (long j = 0; j < c; j++) out[j] = bop<OP>(x[j], y); break; }
      case 4: { const float* y = b + base; const float x = a[0]; for (long j = 0; j < c; j++) out[j] = bop<OP>(x, y[j]); break; }
      case 5: { const float* x = a + base; const float y = b[r]; for (long j = 0; j < c; j++) out[j] = bop<OP>(x[j], y); break; }
      case 6: { const float* y = b + base; const float x = a[r]; for (long j = 0; j < c; j++) out[j] = bop<OP>(x, y[j]); break; }
    }
  }
}

static void binaryImpl(int op, const float* a, const float* b, float* o, long rows, long c, int mode) {
  switch (op) {
    case 0: binaryT<0>(a, b, o, rows, c, mode); break;
    case 1: binaryT<1>(a, b, o, rows, c, mode); break;
    case 2: binaryT<2>(a, b, o, rows, c, mode); break;
    default: binaryT<3>(a, b, o, rows, c, mode); break;
  }
}

typedef int32_t v16i __attribute__((vector_size(64), aligned(4)));

// exp on 16 floats: 2^n * p(r), n = round(x / ln2), r = x - n ln2 (Cody-Waite split), p the
// degree-6 minimax polynomial of Cephes expf (~1 ulp); x clamped to the float range.
static inline v16 exp16(v16 x) {
  const v16 hi = x * 0.f + 88.3762626647949f, lo = x * 0.f - 87.3365478515625f;
  x = x > hi ? hi : x;
  x = x < lo ? lo : x;
  v16 fx = x * 1.44269504088896341f;
  // round to nearest
  const v16i ni = __builtin_convertvector(fx + (fx >= 0.f ? (v16{} + 0.5f) : (v16{} - 0.5f)), v16i);
  const v16 n = __builtin_convertvector(ni, v16);
  v16 r = x - n * 0.693359375f;
  r = r + n * 2.12194440e-4f;
  const v16 r2 = r * r;
  v16 p = (v16{} + 1.9875691500E-4f);
  p = p * r + 1.3981999507E-3f;
  p = p * r + 8.3334519073E-3f;
  p = p * r + 4.1665795894E-2f;
  p = p * r + 1.6666665459E-1f;
  p = p * r + 5.0000001201E-1f;
  p = p * r2 + r + 1.f;
  const v16i e = (ni + 127) << 23;
  v16 scale; std::memcpy(&scale, &e, sizeof(scale));
  return p * scale;
}

// ReLU gradient from the output: dx = y > 0 ? dy : 0
static void reluGradImpl(const float* dy, const float* y, float* dx, long n) {
#pragma omp parallel for num_threads(memThreads(n)) schedule(static)
  for (long i = 0; i < n; i++) dx[i] = y[i] > 0.f ? dy[i] : 0.f;
}

// ClipByValue gradient: dx = lo <= x <= hi ? dy : 0 (NaN x: 0, as tfjs's comparisons)
static void clipGradImpl(const float* dy, const float* x, float* dx, long n, float lo, float hi) {
#pragma omp parallel for num_threads(memThreads(n)) schedule(static)
  for (long i = 0; i < n; i++) dx[i] = (x[i] >= lo && x[i] <= hi) ? dy[i] : 0.f;
}

// op: 0 exp, 1 relu
static void unaryImpl(int op, const float* x, float* o, long n) {
  const long n16 = n / 16 * 16;
  if (op == 0) {
#pragma omp parallel for num_threads(memThreads(n)) schedule(static)
    for (long i = 0; i < n16; i += 16) {
      const v16 v = loadv(x + i);
      storev(o + i, exp16(v));
      // outside [-87.33, 88.37] (denormal / overflow results, NaN) use libm for exact IEEE behaviour
      bool edge = false;
      for (int j = 0; j < 16; j++) edge |= !(v[j] > -87.33f && v[j] < 88.37f);
      if (edge) for (int j = 0; j < 16; j++) o[i + j] = std::exp(x[i + j]);
    }
    for (long i = n16; i < n; i++) o[i] = std::exp(x[i]);
  } else {
#pragma omp parallel for num_threads(memThreads(n)) schedule(static)
    for (long i = 0; i < n; i++) o[i] = x[i] > 0.f ? x[i] : 0.f;
  }
}

// Column sums of x[rows, c] -> o[c] (scaled by `scale`), per-thread partials in double.
static void reduceRowsImpl(const float* x, float* o, long rows, long c, double scale) {
  const int nt = memThreads(rows * c);
  std::vector<double> part((long)nt * c, 0.0);
#pragma omp parallel num_threads(nt)
  {
    double* acc = part.data() + (long)omp_get_thread_num() * c;
    std::vector<float> blockAcc(c);
#pragma omp for schedule(static)
    for (long r0 = 0; r0 < rows; r0 += 64) {
      const long r1 = std::min(rows, r0 + 64);
      std::fill(blockAcc.begin(), blockAcc.end(), 0.f);
      for (long r = r0; r < r1; r++) { const float* row = x + r * c; for (long j = 0; j < c; j++) blockAcc[j] += row[j]; }
      for (long j = 0; j < c; j++) acc[j] += blockAcc[j];
    }
  }
  for (long j = 0; j < c; j++) { double s = 0; for (int t = 0; t < nt; t++) s += part[(long)t * c + j]; o[j] = (float)(s * scale); }
}

// Per-row reduction of x[rows, c] -> o[rows]. op: 0 sum, 1 max; scale applies to sums.
static void reduceLastImpl(const float* x, float* o, long rows, long c, int op, double scale) {
#pragma omp parallel for num_threads(memThreads(rows * c)) schedule(static)
  for (long r = 0; r < rows; r++) {
    const float* row = x + r * c;
    if (op == 1) { float m = row[0]; for (long j = 1; j < c; j++) m = row[j] > m ? row[j] : m; o[r] = m; }
    else { double s = 0; for (long j = 0; j < c; j++) s += row[j]; o[r] = (float)(s * scale); }
  }
}

// ---- N-API glue -------------------------------------------------------------------------------
static napi_value throwErr(napi_env env, const char* msg) { napi_throw_error(env, nullptr, msg); return nullptr; }

static bool f32(napi_env env, napi_value v, float** data, size_t* len) {
  napi_typedarray_type type; napi_value ab; size_t off;
  if (napi_get_typedarray_info(env, v, &type, len, (void**)data, &ab, &off) != napi_ok) return false;
  return type == napi_float32_array;
}

static bool dimsOf(napi_env env, napi_value v, Dims* d) {
  napi_typedarray_type type; size_t len; void* data; napi_value ab; size_t off;
  if (napi_get_typedarray_info(env, v, &type, &len, &data, &ab, &off) != napi_ok) return false;
  if (type != napi_int32_array || len != 15) return false;
  std::memcpy(d, data, sizeof(Dims));
  return true;
}

static bool checkSizes(const Dims& d, size_t x, size_t w, size_t y) {
  return x == (size_t)d.B * d.H * d.W * d.Ci && w == (size_t)d.KH * d.KW * d.Ci * d.Co && y == (size_t)d.B * d.OH * d.OW * d.Co;
}

static napi_value Conv2d(napi_env env, napi_callback_info info) {
  size_t argc = 6; napi_value a[6];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  if (argc < 6) return throwErr(env, "conv2d(x, w, y, dims, bias|null, act)");
  float *x, *w, *y, *bias = nullptr; size_t nx, nw, ny, nb; Dims d;
  if (!f32(env, a[0], &x, &nx) || !f32(env, a[1], &w, &nw) || !f32(env, a[2], &y, &ny)) return throwErr(env, "conv2d: x, w, y must be Float32Array");
  if (!dimsOf(env, a[3], &d)) return throwErr(env, "conv2d: dims must be an Int32Array of 15");
  napi_valuetype bt; napi_typeof(env, a[4], &bt);
  if (bt != napi_null && bt != napi_undefined) { if (!f32(env, a[4], &bias, &nb) || nb != (size_t)d.Co) return throwErr(env, "conv2d: bias must be a Float32Array of Co"); }
  int32_t act = 0; napi_get_value_int32(env, a[5], &act);
  if (!checkSizes(d, nx, nw, ny)) return throwErr(env, "conv2d: array sizes do not match dims");
  conv2dImpl(x, w, y, d, bias, act);
  return nullptr;
}

static napi_value BackpropFilter(napi_env env, napi_callback_info info) {
  size_t argc = 4; napi_value a[4];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  if (argc < 4) return throwErr(env, "backpropFilter(x, dy, dw, dims)");
  float *x, *dy, *dw; size_t nx, ndy, ndw; Dims d;
  if (!f32(env, a[0], &x, &nx) || !f32(env, a[1], &dy, &ndy) || !f32(env, a[2], &dw, &ndw)) return throwErr(env, "backpropFilter: x, dy, dw must be Float32Array");
  if (!dimsOf(env, a[3], &d)) return throwErr(env, "backpropFilter: dims must be an Int32Array of 15");
  if (!checkSizes(d, nx, ndw, ndy)) return throwErr(env, "backpropFilter: array sizes do not match dims");
  backpropFilterImpl(x, dy, dw, d);
  return nullptr;
}

static napi_value BackpropInput(napi_env env, napi_callback_info info) {
  size_t argc = 4; napi_value a[4];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  if (argc < 4) return throwErr(env, "backpropInput(dy, w, dx, dims)");
  float *dy, *w, *dx; size_t ndy, nw, ndx; Dims d;
  if (!f32(env, a[0], &dy, &ndy) || !f32(env, a[1], &w, &nw) || !f32(env, a[2], &dx, &ndx)) return throwErr(env, "backpropInput: dy, w, dx must be Float32Array");
  if (!dimsOf(env, a[3], &d)) return throwErr(env, "backpropInput: dims must be an Int32Array of 15");
  if (!checkSizes(d, ndx, nw, ndy)) return throwErr(env, "backpropInput: array sizes do not match dims");
  backpropInputImpl(dy, w, dx, d);
  return nullptr;
}


static bool getF32(napi_env env, napi_value v, float** d, size_t* n) { return f32(env, v, d, n); }
static double num(napi_env env, napi_value v) { double d = 0; napi_get_value_double(env, v, &d); return d; }

// binary(op, a, b, out, rows, c, mode)
static napi_value Binary(napi_env env, napi_callback_info info) {
  size_t argc = 7; napi_value a[7];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  if (argc < 7) return throwErr(env, "binary(op, a, b, out, rows, c, mode)");
  float *x, *y, *o; size_t nx, ny, no;
  if (!getF32(env, a[1], &x, &nx) || !getF32(env, a[2], &y, &ny) || !getF32(env, a[3], &o, &no)) return throwErr(env, "binary: a, b, out must be Float32Array");
  const long rows = (long)num(env, a[4]), c = (long)num(env, a[5]); const int mode = (int)num(env, a[6]);
  if ((size_t)(rows * c) != no) return throwErr(env, "binary: out size != rows*c");
  binaryImpl((int)num(env, a[0]), x, y, o, rows, c, mode);
  return nullptr;
}

// unary(op, x, out)
static napi_value Unary(napi_env env, napi_callback_info info) {
  size_t argc = 3; napi_value a[3];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  float *x, *o; size_t nx, no;
  if (argc < 3 || !getF32(env, a[1], &x, &nx) || !getF32(env, a[2], &o, &no) || nx != no) return throwErr(env, "unary(op, x, out): Float32Arrays of equal size");
  unaryImpl((int)num(env, a[0]), x, o, (long)nx);
  return nullptr;
}

// reduceRows(x, out, rows, c, scale) / reduceLast(x, out, rows, c, op, scale)
static napi_value ReduceRows(napi_env env, napi_callback_info info) {
  size_t argc = 5; napi_value a[5];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  float *x, *o; size_t nx, no;
  if (argc < 5 || !getF32(env, a[0], &x, &nx) || !getF32(env, a[1], &o, &no)) return throwErr(env, "reduceRows(x, out, rows, c, scale)");
  const long rows = (long)num(env, a[2]), c = (long)num(env, a[3]);
  if ((size_t)(rows * c) != nx || (size_t)c != no) return throwErr(env, "reduceRows: sizes do not match");
  reduceRowsImpl(x, o, rows, c, num(env, a[4]));
  return nullptr;
}

static napi_value ReduceLast(napi_env env, napi_callback_info info) {
  size_t argc = 6; napi_value a[6];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  float *x, *o; size_t nx, no;
  if (argc < 6 || !getF32(env, a[0], &x, &nx) || !getF32(env, a[1], &o, &no)) return throwErr(env, "reduceLast(x, out, rows, c, op, scale)");
  const long rows = (long)num(env, a[2]), c = (long)num(env, a[3]);
  if ((size_t)(rows * c) != nx || (size_t)rows != no || c < 1) return throwErr(env, "reduceLast: sizes do not match");
  reduceLastImpl(x, o, rows, c, (int)num(env, a[4]), num(env, a[5]));
  return nullptr;
}


// matmul(a, b, c, batchA, batchB, M, K, N, transA, transB)
static napi_value Matmul(napi_env env, napi_callback_info info) {
  size_t argc = 10; napi_value a[10];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  if (argc < 10) return throwErr(env, "matmul(a, b, c, batchA, batchB, M, K, N, transA, transB)");
  float *x, *y, *o; size_t nx, ny, no;
  if (!getF32(env, a[0], &x, &nx) || !getF32(env, a[1], &y, &ny) || !getF32(env, a[2], &o, &no)) return throwErr(env, "matmul: a, b, c must be Float32Array");
  const long ba = (long)num(env, a[3]), bb = (long)num(env, a[4]);
  const int M = (int)num(env, a[5]), K = (int)num(env, a[6]), N = (int)num(env, a[7]);
  bool ta = false, tb = false; napi_get_value_bool(env, a[8], &ta); napi_get_value_bool(env, a[9], &tb);
  if ((size_t)(ba * M * K) != nx || (size_t)(bb * K * N) != ny || (size_t)(std::max(ba, bb) * M * N) != no || (ba != bb && ba != 1 && bb != 1))
    return throwErr(env, "matmul: sizes do not match");
  matmulImpl(x, y, o, ba, bb, M, K, N, ta, tb);
  return nullptr;
}


// slice(x, out, shape4, begin4, size4) — typed arrays viewed as Float32Array (bitwise copy)
static napi_value Slice(napi_env env, napi_callback_info info) {
  size_t argc = 5; napi_value a[5];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  float *x, *o; size_t nx, no;
  if (argc < 5 || !getF32(env, a[0], &x, &nx) || !getF32(env, a[1], &o, &no)) return throwErr(env, "slice(x, out, shape, begin, size)");
  int* p[3];
  for (int i = 0; i < 3; i++) {
    napi_typedarray_type type; size_t len; void* data; napi_value ab; size_t off;
    if (napi_get_typedarray_info(env, a[2 + i], &type, &len, &data, &ab, &off) != napi_ok || type != napi_int32_array || len != 4) return throwErr(env, "slice: shape/begin/size must be Int32Array(4)");
    p[i] = (int*)data;
  }
  size_t total = 1, outN = 1;
  for (int i = 0; i < 4; i++) {
    total *= p[0][i]; outN *= p[2][i];
    if (p[1][i] < 0 || p[2][i] < 0 || p[1][i] + p[2][i] > p[0][i]) return throwErr(env, "slice: out of range");
  }
  if (total != nx || outN != no) return throwErr(env, "slice: sizes do not match");
  sliceImpl(x, o, p[0], p[1], p[2]);
  return nullptr;
}


static bool i32n(napi_env env, napi_value v, int** data, size_t n) {
  napi_typedarray_type type; size_t len; napi_value ab; size_t off;
  return napi_get_typedarray_info(env, v, &type, &len, (void**)data, &ab, &off) == napi_ok && type == napi_int32_array && len == n;
}

// avgPoolGrad(dy, dx, params12, scale) / maxPoolGrad(x, dy, dx, params12)
static napi_value AvgPoolGrad(napi_env env, napi_callback_info info) {
  size_t argc = 4; napi_value a[4];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  float *dy, *dx; size_t ndy, ndx; int* p;
  if (argc < 4 || !getF32(env, a[0], &dy, &ndy) || !getF32(env, a[1], &dx, &ndx) || !i32n(env, a[2], &p, 12)) return throwErr(env, "avgPoolGrad(dy, dx, params, scale)");
  if ((size_t)p[0] * p[1] * p[2] * p[3] != ndx || (size_t)p[0] * p[4] * p[5] * p[3] != ndy) return throwErr(env, "avgPoolGrad: sizes do not match");
  avgPoolGradImpl(dy, dx, p, (float)num(env, a[3]));
  return nullptr;
}

static napi_value MaxPoolGrad(napi_env env, napi_callback_info info) {
  size_t argc = 4; napi_value a[4];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  float *x, *dy, *dx; size_t nx, ndy, ndx; int* p;
  if (argc < 4 || !getF32(env, a[0], &x, &nx) || !getF32(env, a[1], &dy, &ndy) || !getF32(env, a[2], &dx, &ndx) || !i32n(env, a[3], &p, 12)) return throwErr(env, "maxPoolGrad(x, dy, dx, params)");
  if ((size_t)p[0] * p[1] * p[2] * p[3] != ndx || nx != ndx || (size_t)p[0] * p[4] * p[5] * p[3] != ndy) return throwErr(env, "maxPoolGrad: sizes do not match");
  maxPoolGradImpl(x, dy, dx, p);
  return nullptr;
}


// oneHot(indices Int32Array, out Float32Array, depth, on, off)
static napi_value OneHot(napi_env env, napi_callback_info info) {
  size_t argc = 5; napi_value a[5];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  napi_typedarray_type type; size_t n; void* data; napi_value ab; size_t off;
  float* o; size_t no;
  if (argc < 5 || napi_get_typedarray_info(env, a[0], &type, &n, &data, &ab, &off) != napi_ok || type != napi_int32_array || !getF32(env, a[1], &o, &no))
    return throwErr(env, "oneHot(indices, out, depth, on, off)");
  const int depth = (int)num(env, a[2]);
  if (no != n * (size_t)depth) return throwErr(env, "oneHot: sizes do not match");
  oneHotImpl((const int32_t*)data, o, (long)n, depth, (float)num(env, a[3]), (float)num(env, a[4]));
  return nullptr;
}


// resizeBilinearGrad(dy, dx, params6, alignCorners, halfPixelCenters)
static napi_value ResizeBilinearGrad(napi_env env, napi_callback_info info) {
  size_t argc = 5; napi_value a[5];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  float *dy, *dx; size_t ndy, ndx; int* p;
  if (argc < 5 || !getF32(env, a[0], &dy, &ndy) || !getF32(env, a[1], &dx, &ndx) || !i32n(env, a[2], &p, 6)) return throwErr(env, "resizeBilinearGrad(dy, dx, params, alignCorners, halfPixelCenters)");
  if ((size_t)p[0] * p[1] * p[2] * p[3] != ndx || (size_t)p[0] * p[4] * p[5] * p[3] != ndy) return throwErr(env, "resizeBilinearGrad: sizes do not match");
  bool align = false, half = false; napi_get_value_bool(env, a[3], &align); napi_get_value_bool(env, a[4], &half);
  resizeBilinearGradImpl(dy, dx, p, align, half);
  return nullptr;
}


static bool dwSizes(const Dims& d, size_t x, size_t w, size_t y) {
  return d.Ci > 0 && d.Co % d.Ci == 0 && x == (size_t)d.B * d.H * d.W * d.Ci && w == (size_t)d.KH * d.KW * d.Co && y == (size_t)d.B * d.OH * d.OW * d.Co;
}

// dwBackpropFilter(x, dy, dw, dims) / dwBackpropInput(dy, w, dx, dims); dims.Co = Ci * multiplier
static napi_value DwBackpropFilter(napi_env env, napi_callback_info info) {
  size_t argc = 4; napi_value a[4];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  float *x, *dy, *dw; size_t nx, ndy, ndw; Dims d;
  if (argc < 4 || !f32(env, a[0], &x, &nx) || !f32(env, a[1], &dy, &ndy) || !f32(env, a[2], &dw, &ndw) || !dimsOf(env, a[3], &d)) return throwErr(env, "dwBackpropFilter(x, dy, dw, dims)");
  if (!dwSizes(d, nx, ndw, ndy)) return throwErr(env, "dwBackpropFilter: array sizes do not match dims");
  dwBackpropFilterImpl(x, dy, dw, d);
  return nullptr;
}

static napi_value DwBackpropInput(napi_env env, napi_callback_info info) {
  size_t argc = 4; napi_value a[4];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  float *dy, *w, *dx; size_t ndy, nw, ndx; Dims d;
  if (argc < 4 || !f32(env, a[0], &dy, &ndy) || !f32(env, a[1], &w, &nw) || !f32(env, a[2], &dx, &ndx) || !dimsOf(env, a[3], &d)) return throwErr(env, "dwBackpropInput(dy, w, dx, dims)");
  if (!dwSizes(d, ndx, nw, ndy)) return throwErr(env, "dwBackpropInput: array sizes do not match dims");
  dwBackpropInputImpl(dy, w, dx, d);
  return nullptr;
}

// dwConv2d(x, w, y, dims, bias|null, act); dims.Co = Ci * multiplier
static napi_value DwConv2d(napi_env env, napi_callback_info info) {
  size_t argc = 6; napi_value a[6];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  float *x, *w, *y, *bias = nullptr; size_t nx, nw, ny, nb; Dims d;
  if (argc < 6 || !f32(env, a[0], &x, &nx) || !f32(env, a[1], &w, &nw) || !f32(env, a[2], &y, &ny) || !dimsOf(env, a[3], &d)) return throwErr(env, "dwConv2d(x, w, y, dims, bias|null, act)");
  if (!dwSizes(d, nx, nw, ny)) return throwErr(env, "dwConv2d: array sizes do not match dims");
  napi_valuetype bt; napi_typeof(env, a[4], &bt);
  if (bt != napi_null && bt != napi_undefined) { if (!f32(env, a[4], &bias, &nb) || nb != (size_t)d.Co) return throwErr(env, "dwConv2d: bias must be a Float32Array of Co"); }
  int32_t act = 0; napi_get_value_int32(env, a[5], &act);
  dwConv2dImpl(x, w, y, d, bias, act);
  return nullptr;
}

// bnForward(x, gamma, beta, y, mean, variance, C, eps) / bnBackward(dy, x, mean, variance, gamma, dx, dgamma, dbeta, C, eps)
static napi_value BnForward(napi_env env, napi_callback_info info) {
  size_t argc = 8; napi_value a[8];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  float* p[6]; size_t n[6];
  if (argc < 8) return throwErr(env, "bnForward(x, gamma, beta, y, mean, variance, C, eps)");
  for (int i = 0; i < 6; i++) if (!f32(env, a[i], &p[i], &n[i])) return throwErr(env, "bnForward: arrays must be Float32Array");
  const long C = (long)num(env, a[6]);
  if (C < 1 || n[0] % C != 0 || n[3] != n[0] || n[1] != (size_t)C || n[2] != (size_t)C || n[4] != (size_t)C || n[5] != (size_t)C) return throwErr(env, "bnForward: sizes do not match");
  bnForwardImpl(p[0], p[1], p[2], p[3], p[4], p[5], (long)(n[0] / C), C, num(env, a[7]));
  return nullptr;
}

static napi_value BnBackward(napi_env env, napi_callback_info info) {
  size_t argc = 10; napi_value a[10];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  float* p[8]; size_t n[8];
  if (argc < 10) return throwErr(env, "bnBackward(dy, x, mean, variance, gamma, dx, dgamma, dbeta, C, eps)");
  for (int i = 0; i < 8; i++) if (!f32(env, a[i], &p[i], &n[i])) return throwErr(env, "bnBackward: arrays must be Float32Array");
  const long C = (long)num(env, a[8]);
  if (C < 1 || n[0] % C != 0 || n[1] != n[0] || n[5] != n[0] || n[2] != (size_t)C || n[3] != (size_t)C || n[4] != (size_t)C || n[6] != (size_t)C || n[7] != (size_t)C)
    return throwErr(env, "bnBackward: sizes do not match");
  bnBackwardImpl(p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], (long)(n[0] / C), C, num(env, a[9]));
  return nullptr;
}

// sgdUpdate(w, g, v, wOut, vOut, lr, momentum, weightDecay)
static napi_value SgdUpdate(napi_env env, napi_callback_info info) {
  size_t argc = 8; napi_value a[8];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  float* p[5]; size_t n[5];
  if (argc < 8) return throwErr(env, "sgdUpdate(w, g, v, wOut, vOut, lr, momentum, weightDecay)");
  for (int i = 0; i < 5; i++) if (!f32(env, a[i], &p[i], &n[i]) || n[i] != n[0]) return throwErr(env, "sgdUpdate: Float32Arrays of equal size");
  sgdUpdateImpl(p[0], p[1], p[2], p[3], p[4], (long)n[0], (float)num(env, a[5]), (float)num(env, a[6]), (float)num(env, a[7]));
  return nullptr;
}

// adamUpdate(w, g, m, s, wOut, mOut, sOut, lr, beta1, beta2, epsilon, weightDecay, biasCorrection1, biasCorrection2)
static napi_value AdamUpdate(napi_env env, napi_callback_info info) {
  size_t argc = 14; napi_value a[14];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  float* p[7]; size_t n[7];
  if (argc < 14) return throwErr(env, "adamUpdate(w, g, m, s, wOut, mOut, sOut, lr, beta1, beta2, epsilon, weightDecay, bc1, bc2)");
  for (int i = 0; i < 7; i++) if (!f32(env, a[i], &p[i], &n[i]) || n[i] != n[0]) return throwErr(env, "adamUpdate: Float32Arrays of equal size");
  float q[7]; for (int i = 0; i < 7; i++) q[i] = (float)num(env, a[7 + i]);
  adamUpdateImpl(p[0], p[1], p[2], p[3], p[4], p[5], p[6], (long)n[0], q[0], q[1], q[2], q[3], q[4], q[5], q[6]);
  return nullptr;
}

// reluGrad(dy, y, dx)
static napi_value ReluGrad(napi_env env, napi_callback_info info) {
  size_t argc = 3; napi_value a[3];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  float *dy, *y, *dx; size_t n1, n2, n3;
  if (argc < 3 || !f32(env, a[0], &dy, &n1) || !f32(env, a[1], &y, &n2) || !f32(env, a[2], &dx, &n3) || n1 != n2 || n1 != n3)
    return throwErr(env, "reluGrad(dy, y, dx): Float32Arrays of equal size");
  reluGradImpl(dy, y, dx, (long)n1);
  return nullptr;
}

// bnMoving(movingMean, movingVariance, mean, variance, outMean, outVariance, momentum)
static napi_value BnMoving(napi_env env, napi_callback_info info) {
  size_t argc = 7; napi_value a[7];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  float* p[6]; size_t n[6];
  if (argc < 7) return throwErr(env, "bnMoving(movingMean, movingVariance, mean, variance, outMean, outVariance, momentum)");
  for (int i = 0; i < 6; i++) if (!f32(env, a[i], &p[i], &n[i]) || n[i] != n[0]) return throwErr(env, "bnMoving: Float32Arrays of equal size");
  bnMovingImpl(p[0], p[1], p[2], p[3], p[4], p[5], (long)n[0], (float)num(env, a[6]));
  return nullptr;
}

// clipGrad(dy, x, dx, lo, hi)
static napi_value ClipGrad(napi_env env, napi_callback_info info) {
  size_t argc = 5; napi_value a[5];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  float *dy, *x, *dx; size_t n1, n2, n3;
  if (argc < 5 || !f32(env, a[0], &dy, &n1) || !f32(env, a[1], &x, &n2) || !f32(env, a[2], &dx, &n3) || n1 != n2 || n1 != n3)
    return throwErr(env, "clipGrad(dy, x, dx, lo, hi): Float32Arrays of equal size");
  clipGradImpl(dy, x, dx, (long)n1, (float)num(env, a[3]), (float)num(env, a[4]));
  return nullptr;
}

static napi_value SetThreads(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value a[1];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  int32_t n = 0; if (argc >= 1) napi_get_value_int32(env, a[0], &n);
  g_threads = n;
  napi_value r; napi_create_int32(env, threads(), &r);
  return r;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"conv2d", nullptr, Conv2d, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"backpropFilter", nullptr, BackpropFilter, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"backpropInput", nullptr, BackpropInput, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"setThreads", nullptr, SetThreads, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"matmul", nullptr, Matmul, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"slice", nullptr, Slice, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"avgPoolGrad", nullptr, AvgPoolGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"maxPoolGrad", nullptr, MaxPoolGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"oneHot", nullptr, OneHot, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"resizeBilinearGrad", nullptr, ResizeBilinearGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"dwBackpropFilter", nullptr, DwBackpropFilter, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"dwBackpropInput", nullptr, DwBackpropInput, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"dwConv2d", nullptr, DwConv2d, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"bnForward", nullptr, BnForward, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"sgdUpdate", nullptr, SgdUpdate, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"reluGrad", nullptr, ReluGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"clipGrad", nullptr, ClipGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"bnMoving", nullptr, BnMoving, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"adamUpdate", nullptr, AdamUpdate, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"bnBackward", nullptr, BnBackward, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"binary", nullptr, Binary, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"unary", nullptr, Unary, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"reduceRows", nullptr, ReduceRows, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"reduceLast", nullptr, ReduceLast, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
