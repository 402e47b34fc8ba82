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
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

typedef float v16 __attribute__((vector_size(64), aligned(4)));

static const int MR = 6;
static const int NR = 32;
static const int KC = 256;
static const int MC = 96;  // rows of A packed at once (multiple of MR)

struct Dims {
  int B, H, W, Ci, OH, OW, Co, KH, KW, sh, sw, dh, dw, pt, pl;
  long M() const { return (long)B * OH * OW; }
  int K() const { return KH * KW * Ci; }
};

static inline v16 loadv(const float* p) { v16 v; std::memcpy(&v, p, sizeof(v)); return v; }
static inline void storev(float* p, v16 v) { std::memcpy(p, &v, sizeof(v)); }

// C[mr x nr] (+)= Apanel[kc x MR] * Bpanel[kc x NR]
static inline void micro(int kc, const float* __restrict A, const float* __restrict B, float* C, long ldc, int mr, int nr, bool acc) {
  v16 c00 = {}, c01 = {}, c10 = {}, c11 = {}, c20 = {}, c21 = {}, c30 = {}, c31 = {}, c40 = {}, c41 = {}, c50 = {}, c51 = {};
  for (int k = 0; k < kc; k++) {
    const v16 b0 = loadv(B + k * NR), b1 = loadv(B + k * NR + 16);
    const float* a = A + k * MR;
    c00 += a[0] * b0; c01 += a[0] * b1;
    c10 += a[1] * b0; c11 += a[1] * b1;
    c20 += a[2] * b0; c21 += a[2] * b1;
    c30 += a[3] * b0; c31 += a[3] * b1;
    c40 += a[4] * b0; c41 += a[4] * b1;
    c50 += a[5] * b0; c51 += a[5] * b1;
  }
  v16 r[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  if (nr == NR) {
    for (int i = 0; i < mr; i++) {
      float* c = C + i * ldc;
      if (acc) { storev(c, loadv(c) + r[i][0]); storev(c + 16, loadv(c + 16) + r[i][1]); }
      else { storev(c, r[i][0]); storev(c + 16, r[i][1]); }
    }
  } else {
    float tmp[NR];
    for (int i = 0; i < mr; i++) {
      storev(tmp, r[i][0]); storev(tmp + 16, r[i][1]);
      float* c = C + i * ldc;
      if (acc) for (int j = 0; j < nr; j++) c[j] += tmp[j];
      else for (int j = 0; j < nr; j++) c[j] = tmp[j];
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

// im2col row filler: row i = (b, oh, ow), columns k = (kh, kw, ci).
struct Im2col {
  const float* x; Dims d;
  void operator()(long i, int k0, int kc, float* dst, int stride) const {
    const int ow = i % d.OW; const long t = i / d.OW; const int oh = t % d.OH; const int b = t / d.OH;
    const int ih0 = oh * d.sh - d.pt, iw0 = ow * d.sw - d.pl;
    int k = k0;
    const int kend = k0 + kc;
    while (k < kend) {
      const int tap = k / d.Ci, ci0 = k % d.Ci;
      const int kh = tap / d.KW, kw = tap % d.KW;
      const int n = std::min(d.Ci - ci0, kend - k);
      const int ih = ih0 + kh * d.dh, iw = iw0 + kw * d.dw;
      float* o = dst + (long)(k - k0) * stride;
      if (ih < 0 || ih >= d.H || iw < 0 || iw >= d.W) {
        for (int c = 0; c < n; c++) o[(long)c * stride] = 0.f;
      } else {
        const float* s = x + (((long)b * d.H + ih) * d.W + iw) * d.Ci + ci0;
        for (int c = 0; c < n; c++) o[(long)c * stride] = s[c];
      }
      k += n;
    }
  }
};

static int g_threads = 0;
static int threads() { return g_threads > 0 ? g_threads : omp_get_max_threads(); }

// y[M, Co] = im2col(x)[M, K] w[K, Co] (+ bias, relu)
static void conv2dImpl(const float* x, const float* w, float* y, const Dims& d, const float* bias, int act) {
  const long M = d.M(); const int K = d.K(), N = d.Co;
  const int nkb = (K + KC - 1) / KC;
  const long panelN = ((N + NR - 1) / NR) * NR;
  std::vector<float> Bp((long)nkb * KC * panelN);
  for (int kb = 0; kb < nkb; kb++) {
    const int k0 = kb * KC, kc = std::min(KC, K - k0);
    packB(kc, N, [&](int k, int j) { return w[(long)(k0 + k) * N + j]; }, Bp.data() + (long)kb * KC * panelN);
  }
  const Im2col fill{x, d};
  const long nblocks = (M + MC - 1) / MC;
#pragma omp parallel num_threads(threads())
  {
    std::vector<float> Ap((long)MC * KC);
#pragma omp for schedule(dynamic, 4)
    for (long blk = 0; blk < nblocks; blk++) {
      const long i0 = blk * MC; const int m = (int)std::min<long>(MC, M - i0);
      for (int kb = 0; kb < nkb; kb++) {
        const int k0 = kb * KC, kc = std::min(KC, K - k0);
        packA(m, k0, kc, [&](int r, int kk0, int kkc, float* dst, int st) { fill(i0 + r, kk0, kkc, dst, st); }, Ap.data());
        gemmPacked(m, N, kc, Ap.data(), Bp.data() + (long)kb * KC * panelN, y + i0 * N, N, kb > 0);
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

// dw^T[Co, K] = dy^T[Co, M] im2col(x)[M, K]; reduction over M split across threads.
static void backpropFilterImpl(const float* x, const float* dy, float* dwOut, const Dims& d) {
  const long M = d.M(); const int K = d.K(), Co = d.Co;
  const int T = threads();
  std::vector<std::vector<float>> partial(T);
  const long chunk = KC;
  const long nchunks = (M + chunk - 1) / chunk;
  const long panelK = ((K + NR - 1) / NR) * NR;
  const Im2col fill{x, d};
#pragma omp parallel num_threads(T)
  {
    const int t = omp_get_thread_num();
    std::vector<float>& acc = partial[t];
    acc.assign((long)Co * K, 0.f);
    std::vector<float> Ap((long)((Co + MR - 1) / MR) * MR * KC);
    std::vector<float> Bp((long)KC * panelK);
    std::vector<float> rowbuf((long)K);
#pragma omp for schedule(dynamic, 2)
    for (long c = 0; c < nchunks; c++) {
      const long i0 = c * chunk; const int kc = (int)std::min<long>(chunk, M - i0);
      // B = im2col rows i0..i0+kc (reduction dim) x K columns, packed in NR panels
      for (int r = 0; r < kc; r++) {
        fill(i0 + r, 0, K, rowbuf.data(), 1);
        const float* src = rowbuf.data();
        for (int j0 = 0; j0 < K; j0 += NR) {
          float* dst = Bp.data() + (long)(j0 / NR) * kc * NR + (long)r * NR;
          const int nr = std::min(NR, K - j0);
          std::memcpy(dst, src + j0, nr * sizeof(float));
          for (int j = nr; j < NR; j++) dst[j] = 0.f;
        }
      }
      // A = dy^T: rows co, columns i (reduction)
      packA(Co, 0, kc, [&](int co, int, int n, float* dst, int st) {
        const float* s = dy + i0 * Co + co;
        for (int k = 0; k < n; k++) dst[(long)k * st] = s[(long)k * Co];
      }, Ap.data());
      gemmPacked(Co, K, kc, Ap.data(), Bp.data(), acc.data(), K, true);
    }
  }
  // dw[K, Co] = sum_t partial_t^T
  for (int k = 0; k < K; k++) {
    for (int co = 0; co < Co; co++) {
      float s = 0.f;
      for (int t = 0; t < T; t++) s += partial[t][(long)co * K + k];
      dwOut[(long)k * Co + co] = s;
    }
  }
}

// dx = col2im(dy[M, Co] w^T[Co, K]); threads over images (no write races).
static void backpropInputImpl(const float* dy, const float* w, float* dx, const Dims& d) {
  const int K = d.K(), Co = d.Co;
  const long perImage = (long)d.OH * d.OW;
  const int nkb = (Co + KC - 1) / KC;
  const long panelK = ((K + NR - 1) / NR) * NR;
  // B = w^T [Co, K], packed once per Co block
  std::vector<float> Bp((long)nkb * KC * panelK);
  for (int kb = 0; kb < nkb; kb++) {
    const int c0 = kb * KC, cc = std::min(KC, Co - c0);
    packB(cc, K, [&](int c, int k) { return w[(long)k * Co + c0 + c]; }, Bp.data() + (long)kb * KC * panelK);
  }
  std::memset(dx, 0, sizeof(float) * (long)d.B * d.H * d.W * d.Ci);
  const long rowsPerBlock = MC;
  const long blocksPerImage = (perImage + rowsPerBlock - 1) / rowsPerBlock;
  // Parallel over images: the col2im scatter of one image never touches another's rows.
  const int T = threads();
#pragma omp parallel num_threads(T)
  {
    std::vector<float> Ap((long)MC * KC);
    std::vector<float> col((long)MC * K);
#pragma omp for schedule(static)
    for (int b = 0; b < d.B; b++) {
      for (long blk = 0; blk < blocksPerImage; blk++) {
        const long r0 = blk * rowsPerBlock; const int m = (int)std::min<long>(rowsPerBlock, perImage - r0);
        const long i0 = (long)b * perImage + r0;
        for (int kb = 0; kb < nkb; kb++) {
          const int c0 = kb * KC, cc = std::min(KC, Co - c0);
          packA(m, 0, cc, [&](int r, int, int n, float* dst, int st) {
            const float* s = dy + (i0 + r) * Co + c0;
            for (int k = 0; k < n; k++) dst[(long)k * st] = s[k];
          }, Ap.data());
          gemmPacked(m, K, cc, Ap.data(), Bp.data() + (long)kb * KC * panelK, col.data(), K, kb > 0);
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
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
