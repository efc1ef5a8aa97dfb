// SRTP decryption throughput on the same packets (AES_CM_128_HMAC_SHA1_80, 2-byte MKI = TEK ID,
// made by the project's SrtpSender):
//   bcastsrtpdec      the element, one GstBuffer per packet pushed through its pads (default
//                     engine: OpenSSL EVP)
//   bcastsrtpdec-libsrtp  the same element with engine=libsrtp (its reference engine)
//   srtpdec           GStreamer's element (gst-plugins-bad) on the same libsrtp2, same way
//   libsrtp           a bare loop of srtp_unprotect_mki on one session
//   openssl           the per-packet bound on OpenSSL EVP: HMAC-SHA1 check + AES-128-CTR per packet
//   memcpy / identity what moving the bytes costs: a copy per packet / a GstBuffer through identity
// Every candidate copies each packet once (the packets are decrypted in place), so the copy is in
// every figure. Correctness is checked: every output packet is counted and the first is compared
// with the clear packet.
//
// Usage: bench_srtp [--packets N] [--reps R] [--sizes 200,1400] [--only NAME[,NAME...]]
#include <gst/gst.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <srtp2/srtp.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gst-plugins/bcastprotect/bcastsrtpdec.h"
#include "gst-plugins/bcastprotect/keyring.h"
#include "gst-plugins/bcastprotect/srtp/srtp_keys.h"
#include "gst-plugins/bcastprotect/srtp/srtp_receiver.h"
#include "gst-plugins/bcastprotect/srtp/srtp_sender.h"
#include "tests/bench/bench_util.h"

namespace {

namespace bs = bcast::srtp;

constexpr std::uint32_t kSsrc = 0x5eed0001;
constexpr std::uint16_t kTekId = 1;
constexpr std::size_t kMkiLength = 2;
constexpr std::size_t kTagLength = 10;

std::array<std::uint8_t, 16> Key() {
  std::array<std::uint8_t, 16> k{};
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<std::uint8_t>(0x11 * i + 3);
  return k;
}
std::array<std::uint8_t, 14> Salt() {
  std::array<std::uint8_t, 14> s{};
  for (std::size_t i = 0; i < s.size(); ++i) s[i] = static_cast<std::uint8_t>(0x5a ^ (i * 13));
  return s;
}

using Packet = std::vector<std::uint8_t>;

struct Corpus {
  std::size_t srtp_size = 0;
  std::vector<Packet> clear;  // RTP
  std::vector<Packet> srtp;   // the same packets protected, srtp_size bytes each
};

// Packets whose SRTP size is exactly `srtp_size` (RTP header 12, MKI 2, tag 10).
Corpus MakeCorpus(std::size_t srtp_size, std::size_t n) {
  Corpus c;
  c.srtp_size = srtp_size;
  bs::SrtpSender sender(bs::SrtpAuth::kHmacSha1_80, kMkiLength);
  const auto key = Key();
  const auto salt = Salt();
  if (!sender.AddKey(kTekId, key, salt)) std::abort();
  const std::size_t payload = srtp_size - 12 - kMkiLength - kTagLength;
  for (std::size_t i = 0; i < n; ++i) {
    Packet p(12 + payload);
    const auto seq = static_cast<std::uint16_t>(i);
    p[0] = 0x80;
    p[1] = 96;
    p[2] = static_cast<std::uint8_t>(seq >> 8);
    p[3] = static_cast<std::uint8_t>(seq);
    const std::uint32_t ts = static_cast<std::uint32_t>(i) * 3000u;
    for (int b = 0; b < 4; ++b) p[4 + b] = static_cast<std::uint8_t>(ts >> (24 - 8 * b));
    for (int b = 0; b < 4; ++b) p[8 + b] = static_cast<std::uint8_t>(kSsrc >> (24 - 8 * b));
    for (std::size_t j = 0; j < payload; ++j) p[12 + j] = static_cast<std::uint8_t>(j * 7 + i);
    c.clear.push_back(p);
    if (!sender.Protect(p, kTekId) || p.size() != srtp_size) std::abort();
    c.srtp.push_back(std::move(p));
  }
  return c;
}

// ---- GStreamer elements driven through pads of our own ----

struct Sink {
  std::uint64_t count = 0;
  bool first_ok = false;
  const Packet* expect_first = nullptr;
};

GstFlowReturn SinkChain(GstPad* pad, GstObject*, GstBuffer* buf) {
  auto* sink = static_cast<Sink*>(gst_pad_get_element_private(pad));
  if (sink->count++ == 0 && sink->expect_first != nullptr) {
    GstMapInfo map;
    if (gst_buffer_map(buf, &map, GST_MAP_READ)) {
      sink->first_ok = map.size == sink->expect_first->size() &&
                       std::memcmp(map.data, sink->expect_first->data(), map.size) == 0;
      gst_buffer_unmap(buf, &map);
    }
  }
  gst_buffer_unref(buf);
  return GST_FLOW_OK;
}

gboolean SinkEvent(GstPad*, GstObject*, GstEvent* event) {
  gst_event_unref(event);
  return TRUE;
}

struct ElementRun {
  double seconds = 0;
  std::uint64_t out = 0;
  bool first_ok = false;
};

// Pushes every packet as its own GstBuffer into `element` (sink pad `sink_name`), timing the
// push loop only (element creation, caps and teardown excluded).
ElementRun RunElement(GstElement* element, const char* sink_name, const char* src_name,
                      GstCaps* caps, const Corpus& c, bool check_first) {
  ElementRun run;
  Sink sink;
  sink.expect_first = check_first ? &c.clear.front() : nullptr;
  GstPad* src = gst_pad_new("src", GST_PAD_SRC);
  GstPad* snk = gst_pad_new("sink", GST_PAD_SINK);
  gst_pad_set_chain_function(snk, SinkChain);
  gst_pad_set_event_function(snk, SinkEvent);
  gst_pad_set_element_private(snk, &sink);
  GstPad* esink = gst_element_get_static_pad(element, sink_name);
  GstPad* esrc = gst_element_get_static_pad(element, src_name);
  if (gst_pad_link(src, esink) != GST_PAD_LINK_OK || gst_pad_link(esrc, snk) != GST_PAD_LINK_OK) {
    std::fprintf(stderr, "bench_srtp: cannot link %s\n", GST_ELEMENT_NAME(element));
    std::exit(1);
  }
  gst_pad_set_active(src, TRUE);
  gst_pad_set_active(snk, TRUE);
  gst_element_set_state(element, GST_STATE_PLAYING);
  gst_pad_push_event(src, gst_event_new_stream_start("bench"));
  gst_pad_push_event(src, gst_event_new_caps(caps));
  GstSegment seg;
  gst_segment_init(&seg, GST_FORMAT_TIME);
  gst_pad_push_event(src, gst_event_new_segment(&seg));

  const double t0 = bench::ThreadCpuSeconds();
  for (const Packet& p : c.srtp) {
    GstBuffer* b = gst_buffer_new_memdup(p.data(), p.size());
    if (gst_pad_push(src, b) != GST_FLOW_OK) break;
  }
  run.seconds = bench::ThreadCpuSeconds() - t0;
  run.out = sink.count;
  run.first_ok = sink.first_ok || !check_first;

  gst_element_set_state(element, GST_STATE_NULL);
  gst_pad_set_active(src, FALSE);
  gst_pad_set_active(snk, FALSE);
  gst_pad_unlink(src, esink);
  gst_pad_unlink(esrc, snk);
  gst_object_unref(esink);
  gst_object_unref(esrc);
  gst_object_unref(src);
  gst_object_unref(snk);
  return run;
}

GstCaps* SrtpCaps(bool with_key) {
  GstCaps* caps = gst_caps_new_simple(
      "application/x-srtp", "media", G_TYPE_STRING, "video", "payload", G_TYPE_INT, 96,
      "clock-rate", G_TYPE_INT, 90000, "encoding-name", G_TYPE_STRING, "H264", "ssrc", G_TYPE_UINT,
      kSsrc, "srtp-cipher", G_TYPE_STRING, "aes-128-icm", "srtp-auth", G_TYPE_STRING,
      "hmac-sha1-80", "srtcp-cipher", G_TYPE_STRING, "aes-128-icm", "srtcp-auth", G_TYPE_STRING,
      "hmac-sha1-80", "mki-length", G_TYPE_INT, static_cast<int>(kMkiLength), nullptr);
  if (with_key) {
    std::array<std::uint8_t, 30> ks{};
    const auto k = Key();
    const auto s = Salt();
    std::copy(k.begin(), k.end(), ks.begin());
    std::copy(s.begin(), s.end(), ks.begin() + 16);
    GstBuffer* key = gst_buffer_new_memdup(ks.data(), ks.size());
    const std::uint8_t mki_bytes[kMkiLength] = {0, kTekId};
    GstBuffer* mki = gst_buffer_new_memdup(mki_bytes, sizeof mki_bytes);
    gst_caps_set_simple(caps, "srtp-key", GST_TYPE_BUFFER, key, "mki", GST_TYPE_BUFFER, mki,
                        nullptr);
    gst_buffer_unref(key);
    gst_buffer_unref(mki);
  }
  return caps;
}

ElementRun RunBcastSrtpDec(const Corpus& c, const char* engine) {
  GstElement* e = gst_element_factory_make("bcastsrtpdec", nullptr);
  gst_object_ref_sink(e);
  gst_util_set_object_arg(G_OBJECT(e), "engine", engine);
  BcastKeyring* ring = bcast_keyring_new();
  BcastTek tek{};
  tek.id = kTekId;
  const auto k = Key();
  const auto s = Salt();
  std::copy(k.begin(), k.end(), tek.key);
  std::copy(s.begin(), s.end(), tek.salt);
  tek.lifetime_s = 3600;
  tek.protocol = 1;
  tek.authenticated = TRUE;
  bcast_keyring_add(ring, &tek);
  GstContext* ctx = bcast_keyring_context_new(ring);
  gst_element_set_context(e, ctx);
  gst_context_unref(ctx);
  GstCaps* caps = SrtpCaps(false);
  ElementRun r = RunElement(e, "sink", "src", caps, c, true);
  gst_caps_unref(caps);
  gst_object_unref(e);
  g_object_unref(ring);
  return r;
}

GstCaps* RequestKey(GstElement*, guint, gpointer) { return SrtpCaps(true); }

ElementRun RunSrtpDec(const Corpus& c) {
  GstElement* e = gst_element_factory_make("srtpdec", nullptr);
  if (e == nullptr) return {};
  gst_object_ref_sink(e);
  g_signal_connect(e, "request-key", G_CALLBACK(RequestKey), nullptr);
  GstCaps* caps = SrtpCaps(true);
  ElementRun r = RunElement(e, "rtp_sink", "rtp_src", caps, c, true);
  gst_caps_unref(caps);
  gst_object_unref(e);
  return r;
}

ElementRun RunIdentity(const Corpus& c) {
  GstElement* e = gst_element_factory_make("identity", nullptr);
  gst_object_ref_sink(e);
  GstCaps* caps = SrtpCaps(false);
  ElementRun r = RunElement(e, "sink", "src", caps, c, false);
  gst_caps_unref(caps);
  gst_object_unref(e);
  return r;
}

// ---- Bare loops ----

ElementRun RunMemcpy(const Corpus& c) {
  ElementRun r;
  std::vector<std::uint8_t> work(c.srtp_size);
  std::uint64_t sum = 0;
  const double t0 = bench::ThreadCpuSeconds();
  for (const Packet& p : c.srtp) {
    std::memcpy(work.data(), p.data(), p.size());
    sum += work[p.size() / 2];
  }
  r.seconds = bench::ThreadCpuSeconds() - t0;
  r.out = c.srtp.size() + (sum == 0xffffffffffffull ? 1 : 0);
  r.first_ok = true;
  return r;
}

ElementRun RunLibsrtp(const Corpus& c) {
  ElementRun r;
  srtp_init();
  std::array<std::uint8_t, 30> ks{};
  const auto k = Key();
  const auto s = Salt();
  std::copy(k.begin(), k.end(), ks.begin());
  std::copy(s.begin(), s.end(), ks.begin() + 16);
  std::uint8_t mki[kMkiLength] = {0, kTekId};
  srtp_master_key_t master{};
  master.key = ks.data();
  master.mki_id = mki;
  master.mki_size = kMkiLength;
  srtp_master_key_t* masters[1] = {&master};
  srtp_policy_t policy{};
  srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtp);
  srtp_crypto_policy_set_rtcp_default(&policy.rtcp);
  policy.ssrc.type = ssrc_specific;
  policy.ssrc.value = kSsrc;
  policy.keys = masters;
  policy.num_master_keys = 1;
  policy.window_size = 128;
  srtp_t session = nullptr;
  if (srtp_create(&session, &policy) != srtp_err_status_ok) std::abort();
  std::vector<std::uint8_t> work(c.srtp_size);
  const double t0 = bench::ThreadCpuSeconds();
  for (const Packet& p : c.srtp) {
    std::memcpy(work.data(), p.data(), p.size());
    int len = static_cast<int>(p.size());
    if (srtp_unprotect_mki(session, work.data(), &len, 1) == srtp_err_status_ok) {
      if (r.out++ == 0) {
        r.first_ok = static_cast<std::size_t>(len) == c.clear.front().size() &&
                     std::memcmp(work.data(), c.clear.front().data(), len) == 0;
      }
    }
  }
  r.seconds = bench::ThreadCpuSeconds() - t0;
  srtp_dealloc(session);
  return r;
}

// The project's SRTP core without GStreamer: SrtpReceiver::Unprotect (what bcastsrtpdec calls).
ElementRun RunReceiver(const Corpus& c) {
  ElementRun r;
  bs::ReceiverConfig cfg;
  cfg.mki_length = kMkiLength;
  bs::SrtpReceiver receiver(cfg);
  receiver.AddKey(kTekId, Key(), Salt());
  std::vector<std::uint8_t> work(c.srtp_size);
  const double t0 = bench::ThreadCpuSeconds();
  for (const Packet& p : c.srtp) {
    std::memcpy(work.data(), p.data(), p.size());
    const bs::UnprotectResult u = receiver.Unprotect(work);
    if (u.decision == bs::Decision::kDecrypted && r.out++ == 0) {
      r.first_ok = u.length == c.clear.front().size() &&
                   std::memcmp(work.data(), c.clear.front().data(), u.length) == 0;
    }
  }
  r.seconds = bench::ThreadCpuSeconds() - t0;
  return r;
}

struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
struct MacCtxFree {
  void operator()(EVP_MAC_CTX* c) const { EVP_MAC_CTX_free(c); }
};
struct MacFree {
  void operator()(EVP_MAC* m) const { EVP_MAC_free(m); }
};

// What a decryptor built directly on OpenSSL EVP would do per packet: one keyed AES-128-CTR
// context and one keyed HMAC context reused for every packet (only the IV and the HMAC state are
// reset), RFC 3711 IV, tag check in constant time, decrypt in place.
ElementRun RunOpenssl(const Corpus& c) {
  ElementRun r;
  const auto mk = Key();
  const auto ms = Salt();
  const bs::SrtpSessionKeys keys = bs::DeriveSessionKeys(mk, ms);
  std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree> aes(EVP_CIPHER_CTX_new());
  EVP_DecryptInit_ex(aes.get(), EVP_aes_128_ctr(), nullptr, keys.encryption_key.data(), nullptr);
  std::unique_ptr<EVP_MAC, MacFree> mac(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
  std::unique_ptr<EVP_MAC_CTX, MacCtxFree> hmac(EVP_MAC_CTX_new(mac.get()));
  char digest[] = "SHA1";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                         OSSL_PARAM_construct_end()};
  if (EVP_MAC_init(hmac.get(), keys.auth_key.data(), keys.auth_key.size(), params) != 1) {
    std::abort();
  }
  std::vector<std::uint8_t> work(c.srtp_size);
  const double t0 = bench::ThreadCpuSeconds();
  for (const Packet& p : c.srtp) {
    std::memcpy(work.data(), p.data(), p.size());
    const std::size_t n = p.size();
    const std::size_t portion = n - kMkiLength - kTagLength;
    const std::uint16_t seq = static_cast<std::uint16_t>((work[2] << 8) | work[3]);
    const std::uint32_t roc = 0;  // the corpus never wraps
    const std::uint8_t roc_be[4] = {0, 0, 0, 0};
    (void)roc;
    std::uint8_t tag[EVP_MAX_MD_SIZE];
    std::size_t tag_len = 0;
    if (EVP_MAC_init(hmac.get(), nullptr, 0, nullptr) != 1 ||
        EVP_MAC_update(hmac.get(), work.data(), portion) != 1 ||
        EVP_MAC_update(hmac.get(), roc_be, 4) != 1 ||
        EVP_MAC_final(hmac.get(), tag, &tag_len, sizeof tag) != 1) {
      continue;
    }
    if (CRYPTO_memcmp(tag, work.data() + n - kTagLength, kTagLength) != 0) continue;
    const auto iv = [&] {
      std::array<std::uint8_t, 16> v{};
      std::copy(keys.salt.begin(), keys.salt.end(), v.begin());
      for (int b = 0; b < 4; ++b) v[4 + b] ^= static_cast<std::uint8_t>(kSsrc >> (24 - 8 * b));
      const std::uint64_t index = seq;
      for (int b = 0; b < 6; ++b) v[8 + b] ^= static_cast<std::uint8_t>(index >> (40 - 8 * b));
      return v;
    }();
    int out_len = 0;
    if (EVP_DecryptInit_ex(aes.get(), nullptr, nullptr, nullptr, iv.data()) != 1 ||
        EVP_DecryptUpdate(aes.get(), work.data() + 12, &out_len, work.data() + 12,
                          static_cast<int>(portion - 12)) != 1) {
      continue;
    }
    if (r.out++ == 0) {
      r.first_ok = portion == c.clear.front().size() &&
                   std::memcmp(work.data(), c.clear.front().data(), portion) == 0;
    }
  }
  r.seconds = bench::ThreadCpuSeconds() - t0;
  return r;
}

std::vector<std::size_t> ParseSizes(const char* s) {
  std::vector<std::size_t> v;
  for (const char* p = s; *p;) {
    v.push_back(std::strtoul(p, const_cast<char**>(&p), 10));
    if (*p == ',') ++p;
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  gst_init(&argc, &argv);
  if (!GST_ELEMENT_REGISTER(bcastsrtpdec, nullptr)) return 1;
  std::size_t n = 16384;
  int reps = 7;
  std::vector<std::size_t> sizes = {200, 1400};
  std::string only;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--packets") n = std::strtoul(argv[i + 1], nullptr, 10);
    if (a == "--reps") reps = std::atoi(argv[i + 1]);
    if (a == "--sizes") sizes = ParseSizes(argv[i + 1]);
    if (a == "--only") only = argv[i + 1];
  }
  if (n > 65536) n = 65536;  // one ROC: the OpenSSL loop does not carry the ROC

  struct Candidate {
    const char* name;
    std::function<ElementRun(const Corpus&)> run;
  };
  const std::vector<Candidate> candidates = {
      {"memcpy", RunMemcpy},
      {"identity", RunIdentity},
      {"openssl", RunOpenssl},
      {"libsrtp", RunLibsrtp},
      {"receiver", RunReceiver},
      {"srtpdec", RunSrtpDec},
      {"bcastsrtpdec", [](const Corpus& c) { return RunBcastSrtpDec(c, "openssl"); }},
      {"bcastsrtpdec-libsrtp", [](const Corpus& c) { return RunBcastSrtpDec(c, "libsrtp"); }},
  };
  int status = 0;
  for (std::size_t size : sizes) {
    const Corpus corpus = MakeCorpus(size, n);
    std::vector<const Candidate*> chosen;
    for (const Candidate& cand : candidates) {
      if (only.empty() ||
          ("," + only + ",").find(std::string(",") + cand.name + ",") != std::string::npos) {
        chosen.push_back(&cand);
      }
    }
    for (const Candidate* cand : chosen) cand->run(corpus);  // warm-up: page faults, lazy init
    // Repetitions are interleaved so that every candidate sees the same machine load.
    std::vector<std::vector<double>> rates(chosen.size());
    std::vector<std::uint64_t> out(chosen.size());
    std::vector<bool> first_ok(chosen.size(), true);
    for (int rep = 0; rep < reps; ++rep) {
      for (std::size_t i = 0; i < chosen.size(); ++i) {
        const ElementRun r = chosen[i]->run(corpus);
        out[i] = r.out;
        first_ok[i] = first_ok[i] && r.first_ok;
        rates[i].push_back(r.seconds > 0 ? static_cast<double>(r.out) / r.seconds : 0);
      }
    }
    for (std::size_t i = 0; i < chosen.size(); ++i) {
      const double pps = bench::Median(rates[i]);
      const bool ok = out[i] == corpus.srtp.size() && first_ok[i];
      if (!ok) {
        std::fprintf(stderr, "bench_srtp: %s at %zu B: %llu of %zu packets out, first %s\n",
                     chosen[i]->name, size, static_cast<unsigned long long>(out[i]),
                     corpus.srtp.size(), first_ok[i] ? "ok" : "WRONG");
        status = 1;
      }
      bench::Result("srtp")
          .Add("name", chosen[i]->name)
          .Add("size", static_cast<double>(size))
          .Add("packets", static_cast<double>(corpus.srtp.size()))
          .Add("reps", reps)
          .Add("pkt_per_s", pps)
          .Add("mb_per_s", pps * static_cast<double>(size) / 1e6)
          .Add("ns_per_pkt", pps > 0 ? 1e9 / pps : 0)
          .Add("ok", ok ? "yes" : "no")
          .Print();
    }
  }
  gst_deinit();
  return status;
}
