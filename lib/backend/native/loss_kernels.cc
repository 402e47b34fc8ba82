// Fused distillation-loss kernels for channel-distill's wasm backend (optional; see
// lib/backend/loss-kernels.ts, which registers them as tfjs kernels with registered gradients, and
// lib/backend/native.ts, which compiles this file into the same addon as cwd_kernels.cc).
//
// Each loss is one forward kernel (value + small per-row statistics the backward pass needs) and one
// backward kernel (the student gradient in one pass over the maps), where the composed tfjs graph
// runs 10-40 element-wise kernels. Tensors are NHWC float32 views of the wasm heap; sums are in double.
//
//   ndForward(s, t, loss, stats, p, T, scale)   normalised divergence: softmax over C per pixel
//   ndBackward(s, t, stats, dy, gs, p, T, scale)  (spatial) or over H*W per channel (channel), then
//                                                 KL(t||s), squared error or Bhattacharyya
//   mseForward(s, t, loss, denom) / mseBackward(s, t, dy, gs, denom)   plain MSE
//   cmForward(s, t, loss, d, p) / cmBackward(d, dy, gs, p)          channel-mean MSE
//   atForward(s, t, loss, gv, p) / atBackward(s, gv, dy, gs, p)     attention transfer (p = 2)
//   localForward(s, t, loss, k, p) / localBackward(s, k, dy, gs, p)  local affinity (8-neighbourhood)
//   paForward(s, t, loss, ps, gp, p) / paBackward(s, ps, gp, dy, gs, p)   pairwise affinity
//
// Module registration: native.ts compiles both sources in one g++ call with
// -Dnapi_register_module_v1=cwd_kernels_register_module, so cwd_kernels.cc's NAPI_MODULE defines that
// function instead of the addon entry point; the entry point below calls it, then adds these exports.
#undef napi_register_module_v1
#include <node_api.h>
#include <omp.h>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

extern "C" napi_value cwd_kernels_register_module(napi_env env, napi_value exports);

namespace {

napi_value fail(napi_env env, const char* msg) {
  napi_throw_error(env, nullptr, msg);
  return nullptr;
}

bool f32(napi_env env, napi_value v, float** d, size_t* n) {
  napi_typedarray_type type; napi_value ab; size_t off; void* data;
  if (napi_get_typedarray_info(env, v, &type, n, &data, &ab, &off) != napi_ok || type != napi_float32_array) return false;
  *d = static_cast<float*>(data);
  return true;
}

bool i32(napi_env env, napi_value v, int32_t** d, size_t want) {
  napi_typedarray_type type; napi_value ab; size_t off, n; void* data;
  if (napi_get_typedarray_info(env, v, &type, &n, &data, &ab, &off) != napi_ok || type != napi_int32_array || n < want) return false;
  *d = static_cast<int32_t*>(data);
  return true;
}

double num(napi_env env, napi_value v) { double d = 0; napi_get_value_double(env, v, &d); return d; }

// exp(x) for x <= 0 (softmax numerators), branch-free so that loops vectorise; ~2 ulp.
inline float fexp(float x) {
  x = std::max(x, -87.3f);
  const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;  // round to nearest (1.5 * 2^23 trick)
  float r = x - n * 0.693359375f;
  r = r + n * 2.12194440e-4f;
  float p = 1.9875691500E-4f;
  p = p * r + 1.3981999507E-3f;
  p = p * r + 8.3334519073E-3f;
  p = p * r + 4.1665795894E-2f;
  p = p * r + 1.6666665459E-1f;
  p = p * r + 5.0000001201E-1f;
  p = p * r * r + r + 1.0f;
  int32_t e = (static_cast<int32_t>(n) + 127) << 23;
  float scale; std::memcpy(&scale, &e, sizeof scale);
  return p * scale;
}

// ---- normalised divergences ----------------------------------------------------------------------
// Rows are the distributions: spatial: row = pixel (N*H*W rows of C contiguous values);
// channel: row = (n, c) (N*C rows of H*W values with stride C). A block is up to RB rows processed
// together: spatial rows one after the other, channel rows c0..c0+rb interleaved (vectorised over c).
// stats per row: [m_s, logZ_s, m_t, logZ_t, aux] with m the max of x/T, Z = sum exp(x/T - m);
// aux: mse K = sum_i ps (ps - pt); bhattacharyya log sum_i sqrt(ps pt).
enum { KL = 0, MSE = 1, BHAT = 2 };
const int NS = 5;
const int RB = 64;

struct Nd {
  long N, H, W, C; bool channel; int div; float invT; double scale;
  long rows() const { return channel ? N * C : N * H * W; }
  long len() const { return channel ? H * W : C; }
  long blocks() const { return channel ? N * ((C + RB - 1) / RB) : (N * H * W + RB - 1) / RB; }
};

// Calls f(j, offset) for the rows j < rb of block b at every position (offset = element index), the
// position loop outside and the rows inside (contiguous for channel rows, stride C for spatial rows),
// so that the per-row accumulators f updates are independent lanes and the inner loop vectorises.
template <class F>
inline void visit(const Nd& p, long b, F f) {
  long base, rb, L, si, sj;
  if (p.channel) {
    const long cb = (p.C + RB - 1) / RB, n = b / cb, c0 = (b % cb) * RB;
    rb = std::min<long>(RB, p.C - c0); L = p.H * p.W; base = n * L * p.C + c0; si = p.C; sj = 1;
  } else {
    const long r0 = b * RB;
    rb = std::min<long>(RB, p.N * p.H * p.W - r0); L = p.C; base = r0 * p.C; si = 1; sj = p.C;
  }
  for (long i = 0; i < L; i++) {
    const long o = base + i * si;
#pragma omp simd
    for (long j = 0; j < rb; j++) f(j, o + j * sj);
  }
}

// Sums K per-row terms of f over the positions, the rows as float lanes (as visit), over chunks of 256
// positions (vectorised; float rounding over at most 256 terms) folded into the double totals tot[k][j].
const long SUM_CHUNK = 256;
template <int K, class F>
inline void sumRows(const Nd& p, long b, double (*tot)[RB], F f) {
  long base, rb, L, si, sj;
  if (p.channel) {
    const long cb = (p.C + RB - 1) / RB, n = b / cb, c0 = (b % cb) * RB;
    rb = std::min<long>(RB, p.C - c0); L = p.H * p.W; base = n * L * p.C + c0; si = p.C; sj = 1;
  } else {
    const long r0 = b * RB;
    rb = std::min<long>(RB, p.N * p.H * p.W - r0); L = p.C; base = r0 * p.C; si = 1; sj = p.C;
  }
  for (int k = 0; k < K; k++) for (long j = 0; j < rb; j++) tot[k][j] = 0;
  for (long i0 = 0; i0 < L; i0 += SUM_CHUNK) {
    float acc[K][RB];
    for (int k = 0; k < K; k++) for (long j = 0; j < RB; j++) acc[k][j] = 0;
    const long i1 = std::min(L, i0 + SUM_CHUNK);
    for (long i = i0; i < i1; i++) {
      const long o = base + i * si;
#pragma omp simd
      for (long j = 0; j < rb; j++) f(j, o + j * sj, acc);
    }
    for (int k = 0; k < K; k++) for (long j = 0; j < rb; j++) tot[k][j] += acc[k][j];
  }
}

// As visit, but with the contiguous axis innermost (spatial rows: positions inside): for passes
// without per-row accumulation (the backward pass), where it gives contiguous vector loads and stores.
template <class F>
inline void visitContiguous(const Nd& p, long b, F f) {
  if (p.channel) { visit(p, b, f); return; }
  const long r0 = b * RB, rb = std::min<long>(RB, p.N * p.H * p.W - r0);
  for (long j = 0; j < rb; j++) {
    const long o = (r0 + j) * p.C;
#pragma omp simd
    for (long i = 0; i < p.C; i++) f(j, o + i);
  }
}

// Forward statistics of one spatial row (C contiguous values of s and t): writes stats[0..4] and
// returns the row's divergence. Float accumulators over the C values, vectorised.
inline double spatialRow(const float* x, const float* y, long C, float invT, int div, float* st) {
  float mx = -INFINITY, my = -INFINITY;
#pragma omp simd reduction(max : mx, my)
  for (long i = 0; i < C; i++) { mx = std::max(mx, x[i]); my = std::max(my, y[i]); }
  mx *= invT; my *= invT;
  float zs = 0, zt = 0, a = 0;
  if (div == KL) {
#pragma omp simd reduction(+ : zs, zt, a)
    for (long i = 0; i < C; i++) {
      const float ds = x[i] * invT - mx, dt = y[i] * invT - my, et = fexp(dt);
      zs += fexp(ds); zt += et; a += et * (dt - ds);
    }
  } else {
#pragma omp simd reduction(+ : zs, zt)
    for (long i = 0; i < C; i++) { zs += fexp(x[i] * invT - mx); zt += fexp(y[i] * invT - my); }
  }
  const double lzs = std::log((double)zs), lzt = std::log((double)zt);
  const float fls = (float)lzs, flt = (float)lzt;
  st[0] = mx; st[1] = fls; st[2] = my; st[3] = flt; st[4] = 0;
  if (div == KL) return (double)a / zt - lzt + lzs;
  if (div == MSE) {
    float sq = 0, k = 0;
#pragma omp simd reduction(+ : sq, k)
    for (long i = 0; i < C; i++) {
      const float ps = fexp(x[i] * invT - mx - fls), pt = fexp(y[i] * invT - my - flt), d = ps - pt;
      sq += d * d; k += ps * d;
    }
    st[4] = k;
    return sq;
  }
  float mq = -INFINITY;
#pragma omp simd reduction(max : mq)
  for (long i = 0; i < C; i++) mq = std::max(mq, 0.5f * ((x[i] * invT - mx - fls) + (y[i] * invT - my - flt)));
  float bs = 0;
#pragma omp simd reduction(+ : bs)
  for (long i = 0; i < C; i++) bs += fexp(0.5f * ((x[i] * invT - mx - fls) + (y[i] * invT - my - flt)) - mq);
  const double lb = mq + std::log((double)bs);
  st[4] = (float)lb;
  return -lb;
}

inline void blockRows(const Nd& p, long b, long* row0, long* rb) {
  if (p.channel) {
    const long cb = (p.C + RB - 1) / RB, n = b / cb, c0 = (b % cb) * RB;
    *row0 = n * p.C + c0; *rb = std::min<long>(RB, p.C - c0);
  } else {
    *row0 = b * RB; *rb = std::min<long>(RB, p.N * p.H * p.W - b * RB);
  }
}

// Spatial rows of at least this many channels are reduced one row at a time (contiguous); shorter ones
// (logits: C = 19) with the rows as lanes, like channel rows.
const long SPATIAL_ROW_MIN_C = 64;

double ndForward(const Nd& p, const float* s, const float* t, float* stats) {
  const float invT = p.invT;
  double total = 0;
#pragma omp parallel for schedule(dynamic, 1) reduction(+ : total)
  for (long b = 0; b < p.blocks(); b++) {
    long row0, rb; blockRows(p, b, &row0, &rb);
    if (!p.channel && p.C >= SPATIAL_ROW_MIN_C) {
      double sub = 0;
      for (long j = 0; j < rb; j++) sub += spatialRow(s + (row0 + j) * p.C, t + (row0 + j) * p.C, p.C, invT, p.div, stats + (row0 + j) * NS);
      total += sub;
      continue;
    }
    float ms[RB], mt[RB];
    double tot[3][RB], lzs[RB], lzt[RB];
    for (int j = 0; j < RB; j++) { ms[j] = mt[j] = -INFINITY; }
    visit(p, b, [&](long j, long o) { ms[j] = std::max(ms[j], s[o]); mt[j] = std::max(mt[j], t[o]); });
    for (long j = 0; j < rb; j++) { ms[j] *= invT; mt[j] *= invT; }
    if (p.div == KL) {
      sumRows<3>(p, b, tot, [&](long j, long o, float (&acc)[3][RB]) {
        const float ds = s[o] * invT - ms[j], dt = t[o] * invT - mt[j];
        const float et = fexp(dt);
        acc[0][j] += fexp(ds); acc[1][j] += et; acc[2][j] += et * (dt - ds);
      });
    } else {
      sumRows<2>(p, b, tot, [&](long j, long o, float (&acc)[2][RB]) {
        acc[0][j] += fexp(s[o] * invT - ms[j]); acc[1][j] += fexp(t[o] * invT - mt[j]);
      });
    }
    for (long j = 0; j < rb; j++) { lzs[j] = std::log(tot[0][j]); lzt[j] = std::log(tot[1][j]); }
    double aux[RB];
    double sub = 0;
    if (p.div == KL) {
      for (long j = 0; j < rb; j++) sub += tot[2][j] / tot[1][j] - lzt[j] + lzs[j];
      for (long j = 0; j < rb; j++) aux[j] = 0;
    } else if (p.div == MSE) {
      float fls[RB], flt[RB];
      for (long j = 0; j < rb; j++) { fls[j] = (float)lzs[j]; flt[j] = (float)lzt[j]; }
      sumRows<2>(p, b, tot, [&](long j, long o, float (&acc)[2][RB]) {
        const float ps = fexp(s[o] * invT - ms[j] - fls[j]), pt = fexp(t[o] * invT - mt[j] - flt[j]);
        const float d = ps - pt;
        acc[0][j] += d * d; acc[1][j] += ps * d;
      });
      for (long j = 0; j < rb; j++) { sub += tot[0][j]; aux[j] = tot[1][j]; }
    } else {
      // log sum_i exp(q_i), q = (ls + lt) / 2 <= 0, shifted by its max (finite for disjoint distributions)
      float mq[RB], fls[RB], flt[RB];
      for (long j = 0; j < rb; j++) { mq[j] = -INFINITY; fls[j] = (float)lzs[j]; flt[j] = (float)lzt[j]; }
      visit(p, b, [&](long j, long o) {
        const float q = 0.5f * ((s[o] * invT - ms[j] - fls[j]) + (t[o] * invT - mt[j] - flt[j]));
        mq[j] = std::max(mq[j], q);
      });
      sumRows<1>(p, b, tot, [&](long j, long o, float (&acc)[1][RB]) {
        const float q = 0.5f * ((s[o] * invT - ms[j] - fls[j]) + (t[o] * invT - mt[j] - flt[j]));
        acc[0][j] += fexp(q - mq[j]);
      });
      for (long j = 0; j < rb; j++) { aux[j] = mq[j] + std::log(tot[0][j]); sub -= aux[j]; }
    }
    for (long j = 0; j < rb; j++) {
      float* st = stats + (row0 + j) * NS;
      st[0] = ms[j]; st[1] = (float)lzs[j]; st[2] = mt[j]; st[3] = (float)lzt[j]; st[4] = (float)aux[j];
    }
    total += sub;
  }
  return total * p.scale;
}

void ndBackward(const Nd& p, const float* s, const float* t, const float* stats, float dy, float* gs) {
  const float invT = p.invT;
  // KL: scale/T (ps - pt); MSE: 2 scale/T ps ((ps - pt) - K); Bhattacharyya: scale/(2T) (ps - sqrt(ps pt)/B)
  const float g = (float)(dy * p.scale * invT * (p.div == MSE ? 2.0 : p.div == BHAT ? 0.5 : 1.0));
#pragma omp parallel for schedule(dynamic, 1)
  for (long b = 0; b < p.blocks(); b++) {
    long row0, rb; blockRows(p, b, &row0, &rb);
    float ms[RB], ls[RB], mt[RB], lt[RB], aux[RB];
    for (long j = 0; j < rb; j++) {
      const float* st = stats + (row0 + j) * NS;
      ms[j] = st[0]; ls[j] = st[1]; mt[j] = st[2]; lt[j] = st[3]; aux[j] = st[4];
    }
    if (p.div == KL) {
      visitContiguous(p, b, [&](long j, long o) { gs[o] = g * (fexp(s[o] * invT - ms[j] - ls[j]) - fexp(t[o] * invT - mt[j] - lt[j])); });
    } else if (p.div == MSE) {
      visitContiguous(p, b, [&](long j, long o) {
        const float ps = fexp(s[o] * invT - ms[j] - ls[j]), pt = fexp(t[o] * invT - mt[j] - lt[j]);
        gs[o] = g * ps * ((ps - pt) - aux[j]);
      });
    } else {
      visitContiguous(p, b, [&](long j, long o) {
        const float las = s[o] * invT - ms[j] - ls[j], lat = t[o] * invT - mt[j] - lt[j];
        gs[o] = g * (fexp(las) - fexp(0.5f * (las + lat) - aux[j]));
      });
    }
  }
}

// ---- plain MSE -----------------------------------------------------------------------------------
// L = sum (s - t)^2 / denom; dL/ds = 2 (s - t) / denom.
double mseForward(long n, const float* s, const float* t, double denom) {
  double total = 0;
  const long chunk = 1 << 14;
#pragma omp parallel for schedule(static) reduction(+ : total)
  for (long b = 0; b < (n + chunk - 1) / chunk; b++) {
    const long e = std::min(n, (b + 1) * chunk);
    float acc = 0;
#pragma omp simd reduction(+ : acc)
    for (long i = b * chunk; i < e; i++) { const float d = s[i] - t[i]; acc += d * d; }
    total += acc;
  }
  return total / denom;
}

void mseBackward(long n, const float* s, const float* t, float dy, double denom, float* gs) {
  const float g = (float)(2.0 * dy / denom);
#pragma omp parallel for schedule(static)
  for (long i = 0; i < n; i++) gs[i] = g * (s[i] - t[i]);
}

// ---- channel-mean MSE ----------------------------------------------------------------------------
// d[n,c] = mean_HW s - mean_HW t; L = sum d^2 / (N C); dL/ds = 2 d / (N C H W).
double cmForward(long N, long L, long C, const float* s, const float* t, float* d) {
  double total = 0;
#pragma omp parallel for schedule(static) reduction(+ : total)
  for (long n = 0; n < N; n++) {
    std::vector<double> acc(C, 0.0);
    const float* sp = s + n * L * C; const float* tp = t + n * L * C;
    for (long i = 0; i < L; i++) {
#pragma omp simd
      for (long c = 0; c < C; c++) acc[c] += (double)sp[i * C + c] - (double)tp[i * C + c];
    }
    for (long c = 0; c < C; c++) { const double v = acc[c] / L; d[n * C + c] = (float)v; total += v * v; }
  }
  return total / (double)(N * C);
}

void cmBackward(long N, long L, long C, const float* d, float dy, float* gs) {
  const float g = (float)(2.0 * dy / ((double)N * C * L));
#pragma omp parallel for schedule(static)
  for (long r = 0; r < N * L; r++) {
    const float* dp = d + (r / L) * C; float* o = gs + r * C;
#pragma omp simd
    for (long c = 0; c < C; c++) o[c] = g * dp[c];
  }
}

// ---- attention transfer --------------------------------------------------------------------------
// v = mean_C x^2 per pixel, a = v / max(||v||, 1e-12) per image, L = mean (a_s - a_t)^2.
// gv[n,i] = dL/dv_s * 2 / Cs, so that dL/ds = dy * gv * s.
double atForward(long N, long L, long Cs, long Ct, const float* s, const float* t, float* gv) {
  double total = 0;
  const double denom = (double)N * L;
#pragma omp parallel for schedule(static) reduction(+ : total)
  for (long n = 0; n < N; n++) {
    std::vector<double> vs(L), vt(L);
    double ns = 0, nt = 0;
    for (long i = 0; i < L; i++) {
      const float* sp = s + (n * L + i) * Cs; const float* tp = t + (n * L + i) * Ct;
      double a = 0, b = 0;
#pragma omp simd reduction(+ : a)
      for (long c = 0; c < Cs; c++) a += (double)sp[c] * sp[c];
#pragma omp simd reduction(+ : b)
      for (long c = 0; c < Ct; c++) b += (double)tp[c] * tp[c];
      vs[i] = a / Cs; vt[i] = b / Ct; ns += vs[i] * vs[i]; nt += vt[i] * vt[i];
    }
    ns = std::sqrt(ns); nt = std::sqrt(nt);
    const double ds = std::max(ns, 1e-12), dt = std::max(nt, 1e-12);
    double dot = 0, sub = 0;
    for (long i = 0; i < L; i++) {
      const double as = vs[i] / ds, e = as - vt[i] / dt;
      sub += e * e;
      vs[i] = as;  // a_s
      vt[i] = 2 * e / denom;  // dL/da_s
      dot += as * vt[i];
    }
    total += sub;
    for (long i = 0; i < L; i++) {
      const double gvi = ns > 1e-12 ? (vt[i] - vs[i] * dot) / ns : vt[i] / 1e-12;
      gv[n * L + i] = (float)(gvi * 2.0 / Cs);
    }
  }
  return total / denom;
}

void atBackward(long N, long L, long C, const float* s, const float* gv, float dy, float* gs) {
#pragma omp parallel for schedule(static)
  for (long r = 0; r < N * L; r++) {
    const float g = dy * gv[r]; const float* sp = s + r * C; float* o = gs + r * C;
#pragma omp simd
    for (long c = 0; c < C; c++) o[c] = g * sp[c];
  }
}

// ---- local affinity ------------------------------------------------------------------------------
// For the 4 offsets o = (0,1), (1,0), (1,1), (1,-1) and every pixel p with p + o inside the image:
// d_x(p, o) = ||x_p - x_{p+o}||_2 over channels; L = sum (d_s - d_t)^2 / (N * pairs per image).
// k[o][n,y,x] = dL/dd_s / d_s (0 where d_s = 0 or the pair is outside), so that
// dL/ds_p = dy * (sum_o k(p,o) (s_p - s_{p+o}) + sum_o k(p-o,o) (s_p - s_{p-o})).
const int LOCAL_OFF[4][2] = {{0, 1}, {1, 0}, {1, 1}, {1, -1}};

inline bool localValid(long H, long W, long y, long x, int o) {
  const long y2 = y + LOCAL_OFF[o][0], x2 = x + LOCAL_OFF[o][1];
  return y2 < H && x2 >= 0 && x2 < W;
}

long localPairs(long H, long W) {
  long p = 0;
  for (int o = 0; o < 4; o++) p += std::max(0L, H - LOCAL_OFF[o][0]) * std::max(0L, W - std::abs(LOCAL_OFF[o][1]));
  return p;
}

inline double dist(const float* a, const float* b, long C) {
  float acc = 0;
#pragma omp simd reduction(+ : acc)
  for (long c = 0; c < C; c++) { const float d = a[c] - b[c]; acc += d * d; }
  return std::sqrt((double)acc);
}

double localForward(long N, long H, long W, long Cs, long Ct, const float* s, const float* t, float* k) {
  const double denom = (double)N * localPairs(H, W);
  const long plane = N * H * W;
  double total = 0;
#pragma omp parallel for schedule(static) collapse(2) reduction(+ : total)
  for (long n = 0; n < N; n++) for (long y = 0; y < H; y++) {
    for (long x = 0; x < W; x++) {
      const long p = (n * H + y) * W + x;
      for (int o = 0; o < 4; o++) {
        float& ko = k[o * plane + p];
        if (!localValid(H, W, y, x, o)) { ko = 0; continue; }
        const long q = p + LOCAL_OFF[o][0] * W + LOCAL_OFF[o][1];
        const double ds = dist(s + p * Cs, s + q * Cs, Cs), dt = dist(t + p * Ct, t + q * Ct, Ct);
        const double e = ds - dt;
        total += e * e;
        ko = ds > 0 ? (float)(2 * e / (denom * ds)) : 0.0f;
      }
    }
  }
  return total / denom;
}

void localBackward(long N, long H, long W, long C, const float* s, const float* k, float dy, float* gs) {
  const long plane = N * H * W;
#pragma omp parallel for schedule(static) collapse(2)
  for (long n = 0; n < N; n++) for (long y = 0; y < H; y++) {
    for (long x = 0; x < W; x++) {
      const long p = (n * H + y) * W + x;
      float* g = gs + p * C; const float* sp = s + p * C;
      for (long c = 0; c < C; c++) g[c] = 0;
      for (int o = 0; o < 4; o++) {
        const long step = LOCAL_OFF[o][0] * W + LOCAL_OFF[o][1];
        if (localValid(H, W, y, x, o)) {  // pair (p, p+o)
          const float kk = dy * k[o * plane + p]; const float* sq = s + (p + step) * C;
#pragma omp simd
          for (long c = 0; c < C; c++) g[c] += kk * (sp[c] - sq[c]);
        }
        const long y0 = y - LOCAL_OFF[o][0], x0 = x - LOCAL_OFF[o][1];
        if (y0 >= 0 && x0 >= 0 && x0 < W) {  // pair (p-o, p)
          const float kk = dy * k[o * plane + p - step]; const float* sq = s + (p - step) * C;
#pragma omp simd
          for (long c = 0; c < C; c++) g[c] += kk * (sp[c] - sq[c]);
        }
      }
    }
  }
}

// ---- pairwise affinity ---------------------------------------------------------------------------
// Ceil-mode max pool (window = stride = kh x kw, partial last windows), unit vectors per node
// (f / (||f|| + 1e-8) with the norm detached, or f / max(||f||, 1e-12)), S = U U^T (M x M),
// L = mean over N M^2 of (S_s - S_t)^2. gp = dL/dP_s (pooled student); the backward pass sends
// dy * gp to the maxima of each window, split equally between exact ties.
struct Pa { long N, H, W, Cs, Ct, kh, kw, oh, ow; bool detach; long M() const { return oh * ow; } };

void pool(const Pa& p, long n, const float* x, long C, float* out) {
  for (long oy = 0; oy < p.oh; oy++) for (long ox = 0; ox < p.ow; ox++) {
    float* o = out + (oy * p.ow + ox) * C;
    for (long c = 0; c < C; c++) o[c] = -INFINITY;
    const long y1 = std::min(p.H, (oy + 1) * p.kh), x1 = std::min(p.W, (ox + 1) * p.kw);
    for (long y = oy * p.kh; y < y1; y++) for (long xx = ox * p.kw; xx < x1; xx++) {
      const float* xp = x + ((n * p.H + y) * p.W + xx) * C;
#pragma omp simd
      for (long c = 0; c < C; c++) o[c] = std::max(o[c], xp[c]);
    }
  }
}

void units(const Pa& p, const float* P, long C, std::vector<double>& U, std::vector<double>& norm) {
  const long M = p.M();
  for (long m = 0; m < M; m++) {
    double q = 0;
    for (long c = 0; c < C; c++) q += (double)P[m * C + c] * P[m * C + c];
    const double nr = std::sqrt(q);
    norm[m] = nr;
    const double d = p.detach ? nr + 1e-8 : std::max(nr, 1e-12);
    for (long c = 0; c < C; c++) U[m * C + c] = P[m * C + c] / d;
  }
}

double paForward(const Pa& p, const float* s, const float* t, float* ps, float* gp) {
  const long M = p.M();
  const double denom = (double)p.N * M * M;
  double total = 0;
#pragma omp parallel for schedule(static) reduction(+ : total)
  for (long n = 0; n < p.N; n++) {
    float* Ps = ps + n * M * p.Cs;
    std::vector<float> Pt(M * p.Ct);
    pool(p, n, s, p.Cs, Ps);
    pool(p, n, t, p.Ct, Pt.data());
    std::vector<double> Us(M * p.Cs), Ut(M * p.Ct), ns(M), nt(M), G(M * M);
    units(p, Ps, p.Cs, Us, ns);
    units(p, Pt.data(), p.Ct, Ut, nt);
    for (long a = 0; a < M; a++) for (long b = 0; b < M; b++) {
      double x = 0, y = 0;
      for (long c = 0; c < p.Cs; c++) x += Us[a * p.Cs + c] * Us[b * p.Cs + c];
      for (long c = 0; c < p.Ct; c++) y += Ut[a * p.Ct + c] * Ut[b * p.Ct + c];
      const double e = x - y;
      total += e * e;
      G[a * M + b] = 2 * e / denom;
    }
    // dU = (G + G^T) U = 2 G U (G symmetric), then through the normalisation
    std::vector<double> dU(p.Cs);
    for (long a = 0; a < M; a++) {
      std::fill(dU.begin(), dU.end(), 0.0);
      for (long b = 0; b < M; b++) {
        const double g = 2 * G[a * M + b];
        for (long c = 0; c < p.Cs; c++) dU[c] += g * Us[b * p.Cs + c];
      }
      float* o = gp + (n * M + a) * p.Cs;
      if (p.detach) {
        const double d = ns[a] + 1e-8;
        for (long c = 0; c < p.Cs; c++) o[c] = (float)(dU[c] / d);
      } else if (ns[a] > 1e-12) {
        double dot = 0;
        for (long c = 0; c < p.Cs; c++) dot += Us[a * p.Cs + c] * dU[c];
        for (long c = 0; c < p.Cs; c++) o[c] = (float)((dU[c] - Us[a * p.Cs + c] * dot) / ns[a]);
      } else {
        for (long c = 0; c < p.Cs; c++) o[c] = (float)(dU[c] / 1e-12);
      }
    }
  }
  return total / denom;
}

void paBackward(const Pa& p, const float* s, const float* ps, const float* gp, float dy, float* gs) {
  const long C = p.Cs;
#pragma omp parallel for schedule(static) collapse(2)
  for (long n = 0; n < p.N; n++) for (long oy = 0; oy < p.oh; oy++) {
    std::vector<float> cnt(C);
    for (long ox = 0; ox < p.ow; ox++) {
      const long m = oy * p.ow + ox;
      const float* mx = ps + (n * p.M() + m) * C; const float* g = gp + (n * p.M() + m) * C;
      const long y1 = std::min(p.H, (oy + 1) * p.kh), x1 = std::min(p.W, (ox + 1) * p.kw);
      std::fill(cnt.begin(), cnt.end(), 0.0f);
      for (long y = oy * p.kh; y < y1; y++) for (long x = ox * p.kw; x < x1; x++) {
        const float* sp = s + ((n * p.H + y) * p.W + x) * C;
#pragma omp simd
        for (long c = 0; c < C; c++) cnt[c] += sp[c] == mx[c] ? 1.0f : 0.0f;
      }
      for (long c = 0; c < C; c++) cnt[c] = cnt[c] > 0 ? dy * g[c] / cnt[c] : 0.0f;
      for (long y = oy * p.kh; y < y1; y++) for (long x = ox * p.kw; x < x1; x++) {
        const long off = ((n * p.H + y) * p.W + x) * C;
        const float* sp = s + off; float* o = gs + off;
#pragma omp simd
        for (long c = 0; c < C; c++) o[c] = sp[c] == mx[c] ? cnt[c] : 0.0f;
      }
    }
  }
}

// ---- N-API wrappers ------------------------------------------------------------------------------

bool ndParams(napi_env env, napi_value v, napi_value T, napi_value scale, Nd* p) {
  int32_t* q;
  if (!i32(env, v, &q, 6)) return false;
  p->N = q[0]; p->H = q[1]; p->W = q[2]; p->C = q[3]; p->channel = q[4] == 1; p->div = q[5];
  p->invT = (float)(1.0 / num(env, T)); p->scale = num(env, scale);
  return p->div >= KL && p->div <= BHAT;
}

// ndForward(s, t, loss, stats, params [N,H,W,C,channel,div], T, scale)
napi_value NdForward(napi_env env, napi_callback_info info) {
  size_t argc = 7; napi_value a[7];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  float *s, *t, *loss, *stats; size_t ns, nt, nl, nst; Nd p;
  if (argc < 7 || !f32(env, a[0], &s, &ns) || !f32(env, a[1], &t, &nt) || !f32(env, a[2], &loss, &nl) || !f32(env, a[3], &stats, &nst)
      || !ndParams(env, a[4], a[5], a[6], &p)) return fail(env, "ndForward(s, t, loss, stats, params, T, scale)");
  const size_t size = (size_t)(p.N * p.H * p.W * p.C);
  if (ns != size || nt != size || nl < 1 || nst != (size_t)(p.rows() * NS)) return fail(env, "ndForward: sizes do not match params");
  loss[0] = (float)ndForward(p, s, t, stats);
  return nullptr;
}

// ndBackward(s, t, stats, dy, gs, params, T, scale)
napi_value NdBackward(napi_env env, napi_callback_info info) {
  size_t argc = 8; napi_value a[8];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  float *s, *t, *stats, *dy, *gs; size_t ns, nt, nst, ndy, ng; Nd p;
  if (argc < 8 || !f32(env, a[0], &s, &ns) || !f32(env, a[1], &t, &nt) || !f32(env, a[2], &stats, &nst) || !f32(env, a[3], &dy, &ndy)
      || !f32(env, a[4], &gs, &ng) || !ndParams(env, a[5], a[6], a[7], &p)) return fail(env, "ndBackward(s, t, stats, dy, gs, params, T, scale)");
  const size_t size = (size_t)(p.N * p.H * p.W * p.C);
  if (ns != size || nt != size || ng != size || ndy < 1 || nst != (size_t)(p.rows() * NS)) return fail(env, "ndBackward: sizes do not match params");
  ndBackward(p, s, t, stats, dy[0], gs);
  return nullptr;
}

// cmForward(s, t, loss, d, params [N, H*W, C])
napi_value CmForward(napi_env env, napi_callback_info info) {
  size_t argc = 5; napi_value a[5];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  float *s, *t, *loss, *d; size_t ns, nt, nl, nd; int32_t* q;
  if (argc < 5 || !f32(env, a[0], &s, &ns) || !f32(env, a[1], &t, &nt) || !f32(env, a[2], &loss, &nl) || !f32(env, a[3], &d, &nd)
      || !i32(env, a[4], &q, 3)) return fail(env, "cmForward(s, t, loss, d, params)");
  const long N = q[0], L = q[1], C = q[2];
  if (ns != (size_t)(N * L * C) || nt != ns || nl < 1 || nd != (size_t)(N * C)) return fail(env, "cmForward: sizes do not match params");
  loss[0] = (float)cmForward(N, L, C, s, t, d);
  return nullptr;
}

// cmBackward(d, dy, gs, params [N, H*W, C])
napi_value CmBackward(napi_env env, napi_callback_info info) {
  size_t argc = 4; napi_value a[4];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  float *d, *dy, *gs; size_t nd, ndy, ng; int32_t* q;
  if (argc < 4 || !f32(env, a[0], &d, &nd) || !f32(env, a[1], &dy, &ndy) || !f32(env, a[2], &gs, &ng) || !i32(env, a[3], &q, 3))
    return fail(env, "cmBackward(d, dy, gs, params)");
  const long N = q[0], L = q[1], C = q[2];
  if (nd != (size_t)(N * C) || ndy < 1 || ng != (size_t)(N * L * C)) return fail(env, "cmBackward: sizes do not match params");
  cmBackward(N, L, C, d, dy[0], gs);
  return nullptr;
}

// atForward(s, t, loss, gv, params [N, H*W, Cs, Ct])
napi_value AtForward(napi_env env, napi_callback_info info) {
  size_t argc = 5; napi_value a[5];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  float *s, *t, *loss, *gv; size_t ns, nt, nl, ngv; int32_t* q;
  if (argc < 5 || !f32(env, a[0], &s, &ns) || !f32(env, a[1], &t, &nt) || !f32(env, a[2], &loss, &nl) || !f32(env, a[3], &gv, &ngv)
      || !i32(env, a[4], &q, 4)) return fail(env, "atForward(s, t, loss, gv, params)");
  const long N = q[0], L = q[1], Cs = q[2], Ct = q[3];
  if (ns != (size_t)(N * L * Cs) || nt != (size_t)(N * L * Ct) || nl < 1 || ngv != (size_t)(N * L)) return fail(env, "atForward: sizes do not match params");
  loss[0] = (float)atForward(N, L, Cs, Ct, s, t, gv);
  return nullptr;
}

// atBackward(s, gv, dy, gs, params [N, H*W, C])
napi_value AtBackward(napi_env env, napi_callback_info info) {
  size_t argc = 5; napi_value a[5];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  float *s, *gv, *dy, *gs; size_t ns, ngv, ndy, ng; int32_t* q;
  if (argc < 5 || !f32(env, a[0], &s, &ns) || !f32(env, a[1], &gv, &ngv) || !f32(env, a[2], &dy, &ndy) || !f32(env, a[3], &gs, &ng)
      || !i32(env, a[4], &q, 3)) return fail(env, "atBackward(s, gv, dy, gs, params)");
  const long N = q[0], L = q[1], C = q[2];
  if (ns != (size_t)(N * L * C) || ng != ns || ngv != (size_t)(N * L) || ndy < 1) return fail(env, "atBackward: sizes do not match params");
  atBackward(N, L, C, s, gv, dy[0], gs);
  return nullptr;
}

// mseForward(s, t, loss, denom)
napi_value MseForward(napi_env env, napi_callback_info info) {
  size_t argc = 4; napi_value a[4];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  float *s, *t, *loss; size_t ns, nt, nl;
  if (argc < 4 || !f32(env, a[0], &s, &ns) || !f32(env, a[1], &t, &nt) || !f32(env, a[2], &loss, &nl) || ns != nt || nl < 1)
    return fail(env, "mseForward(s, t, loss, denom): Float32Arrays, s and t of one size");
  loss[0] = (float)mseForward((long)ns, s, t, num(env, a[3]));
  return nullptr;
}

// mseBackward(s, t, dy, gs, denom)
napi_value MseBackward(napi_env env, napi_callback_info info) {
  size_t argc = 5; napi_value a[5];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  float *s, *t, *dy, *gs; size_t ns, nt, ndy, ng;
  if (argc < 5 || !f32(env, a[0], &s, &ns) || !f32(env, a[1], &t, &nt) || !f32(env, a[2], &dy, &ndy) || !f32(env, a[3], &gs, &ng)
      || ns != nt || ng != ns || ndy < 1) return fail(env, "mseBackward(s, t, dy, gs, denom): Float32Arrays, s, t, gs of one size");
  mseBackward((long)ns, s, t, dy[0], num(env, a[4]), gs);
  return nullptr;
}

// localForward(s, t, loss, k, params [N,H,W,Cs,Ct])
napi_value LocalForward(napi_env env, napi_callback_info info) {
  size_t argc = 5; napi_value a[5];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  float *s, *t, *loss, *k; size_t ns, nt, nl, nk; int32_t* q;
  if (argc < 5 || !f32(env, a[0], &s, &ns) || !f32(env, a[1], &t, &nt) || !f32(env, a[2], &loss, &nl) || !f32(env, a[3], &k, &nk)
      || !i32(env, a[4], &q, 5)) return fail(env, "localForward(s, t, loss, k, params)");
  const long N = q[0], H = q[1], W = q[2], Cs = q[3], Ct = q[4];
  if (ns != (size_t)(N * H * W * Cs) || nt != (size_t)(N * H * W * Ct) || nl < 1 || nk != (size_t)(4 * N * H * W) || localPairs(H, W) < 1)
    return fail(env, "localForward: sizes do not match params");
  loss[0] = (float)localForward(N, H, W, Cs, Ct, s, t, k);
  return nullptr;
}

// localBackward(s, k, dy, gs, params [N,H,W,C])
napi_value LocalBackward(napi_env env, napi_callback_info info) {
  size_t argc = 5; napi_value a[5];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  float *s, *k, *dy, *gs; size_t ns, nk, ndy, ng; int32_t* q;
  if (argc < 5 || !f32(env, a[0], &s, &ns) || !f32(env, a[1], &k, &nk) || !f32(env, a[2], &dy, &ndy) || !f32(env, a[3], &gs, &ng)
      || !i32(env, a[4], &q, 4)) return fail(env, "localBackward(s, k, dy, gs, params)");
  const long N = q[0], H = q[1], W = q[2], C = q[3];
  if (ns != (size_t)(N * H * W * C) || ng != ns || nk != (size_t)(4 * N * H * W) || ndy < 1) return fail(env, "localBackward: sizes do not match params");
  localBackward(N, H, W, C, s, k, dy[0], gs);
  return nullptr;
}

bool paParams(napi_env env, napi_value v, Pa* p) {
  int32_t* q;
  if (!i32(env, v, &q, 8)) return false;
  p->N = q[0]; p->H = q[1]; p->W = q[2]; p->Cs = q[3]; p->Ct = q[4]; p->kh = q[5]; p->kw = q[6]; p->detach = q[7] != 0;
  if (p->kh < 1 || p->kw < 1) return false;
  p->oh = (p->H + p->kh - 1) / p->kh; p->ow = (p->W + p->kw - 1) / p->kw;
  return true;
}

// paForward(s, t, loss, ps, gp, params [N,H,W,Cs,Ct,kh,kw,detach])
napi_value PaForward(napi_env env, napi_callback_info info) {
  size_t argc = 6; napi_value a[6];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  float *s, *t, *loss, *ps, *gp; size_t ns, nt, nl, nps, ngp; Pa p;
  if (argc < 6 || !f32(env, a[0], &s, &ns) || !f32(env, a[1], &t, &nt) || !f32(env, a[2], &loss, &nl) || !f32(env, a[3], &ps, &nps)
      || !f32(env, a[4], &gp, &ngp) || !paParams(env, a[5], &p)) return fail(env, "paForward(s, t, loss, ps, gp, params)");
  const size_t pooled = (size_t)(p.N * p.M() * p.Cs);
  if (ns != (size_t)(p.N * p.H * p.W * p.Cs) || nt != (size_t)(p.N * p.H * p.W * p.Ct) || nl < 1 || nps != pooled || ngp != pooled)
    return fail(env, "paForward: sizes do not match params");
  loss[0] = (float)paForward(p, s, t, ps, gp);
  return nullptr;
}

// paBackward(s, ps, gp, dy, gs, params)
napi_value PaBackward(napi_env env, napi_callback_info info) {
  size_t argc = 6; napi_value a[6];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  float *s, *ps, *gp, *dy, *gs; size_t ns, nps, ngp, ndy, ng; Pa p;
  if (argc < 6 || !f32(env, a[0], &s, &ns) || !f32(env, a[1], &ps, &nps) || !f32(env, a[2], &gp, &ngp) || !f32(env, a[3], &dy, &ndy)
      || !f32(env, a[4], &gs, &ng) || !paParams(env, a[5], &p)) return fail(env, "paBackward(s, ps, gp, dy, gs, params)");
  const size_t pooled = (size_t)(p.N * p.M() * p.Cs);
  if (ns != (size_t)(p.N * p.H * p.W * p.Cs) || ng != ns || nps != pooled || ngp != pooled || ndy < 1) return fail(env, "paBackward: sizes do not match params");
  paBackward(p, s, ps, gp, dy[0], gs);
  return nullptr;
}

}  // namespace

extern "C" NAPI_MODULE_EXPORT napi_value napi_register_module_v1(napi_env env, napi_value exports) {
  exports = cwd_kernels_register_module(env, exports);
  napi_property_descriptor props[] = {
    {"ndForward", nullptr, NdForward, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"ndBackward", nullptr, NdBackward, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"cmForward", nullptr, CmForward, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"cmBackward", nullptr, CmBackward, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"atForward", nullptr, AtForward, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"atBackward", nullptr, AtBackward, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"mseForward", nullptr, MseForward, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"mseBackward", nullptr, MseBackward, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"localForward", nullptr, LocalForward, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"localBackward", nullptr, LocalBackward, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"paForward", nullptr, PaForward, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"paBackward", nullptr, PaBackward, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}
