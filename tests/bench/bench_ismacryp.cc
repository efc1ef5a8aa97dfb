// ISMACryp decryption throughput on the same access units (H.264-style fmtp: avc-video,
// sizeLength 16, 4-byte IV, 2-byte key indicator; AUs fragmented into 1400-byte payloads by the
// project's Packetizer):
//   ismacrypdec  the element, one GstBuffer per RTP packet pushed through its pads
//   ctrcipher    the ISMACryp core's CtrCipher::Apply on each AU (what the element calls)
//   openssl      a bare OpenSSL EVP AES-128-CTR loop over the same AUs (IV set per AU)
//   identity     the floor of any element: the same RTP packets (one GstBuffer each) through
//                identity, no work; reported per AU (a 16 KB AU is 12 packets)
//   ismacrypdec-list  the element fed GstBufferLists of 32 packets
//   ismacrypdec-shared  packets also held by someone else (a tee): decrypted into new buffers
// Inputs are made before the clock starts for every candidate (the bare loops copy each AU into
// a work buffer once, the element gets writable packets as a source hands them on). Outputs are
// counted and the first AU is compared.
//
// Usage: bench_ismacryp [--bytes TOTAL] [--reps R] [--sizes 256,1024,4096,16384] [--only NAME]
#include <gst/gst.h>
#include <gst/rtp/gstrtpbuffer.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gst-plugins/bcastprotect/ismacryp/ismacryp.h"
#include "gst-plugins/bcastprotect/ismacrypdec.h"
#include "gst-plugins/bcastprotect/keyring.h"
#include "tests/bench/bench_util.h"
#include "tests/ismacryp/ismacryp_tek.h"

namespace {

namespace ism = bcast::ismacryp;

constexpr std::uint16_t kTekId = 5;
const ism::Tek kTek = {0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7,
                       0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf};

ism::Fmtp VideoFmtp() {
  ism::Fmtp f;
  f.mode = "avc-video";
  f.size_length = 16;
  f.iv_length = 4;
  f.key_indicator_length = 2;
  f.random_access_indication = true;
  return f;
}

struct Corpus {
  std::size_t au_size = 0;
  std::vector<ism::Bytes> clear;      // AUs
  std::vector<ism::Bytes> encrypted;  // the same AUs encrypted (for the bare loops)
  std::vector<std::uint64_t> bso;     // byte stream offset of each AU
  std::vector<ism::Bytes> rtp;        // RTP packets for the element
  std::size_t total_bytes = 0;        // AU bytes
};

Corpus MakeCorpus(std::size_t au_size, std::size_t n) {
  Corpus c;
  c.au_size = au_size;
  const ism::Fmtp f = VideoFmtp();
  ism::PacketizerOptions o;
  o.max_payload_size = 1400;
  auto pk = ism::Packetizer::Create(f, o);
  if (!pk) std::abort();
  ism::CtrCipher cipher;
  std::uint16_t seq = 0;
  auto add_rtp = [&](const ism::RtpPayload& p) {
    ism::Bytes b(12 + p.bytes.size());
    b[0] = 0x80;
    b[1] = static_cast<std::uint8_t>(96 | (p.marker ? 0x80 : 0));
    b[2] = static_cast<std::uint8_t>(seq >> 8);
    b[3] = static_cast<std::uint8_t>(seq);
    ++seq;
    for (int i = 0; i < 4; ++i)
      b[4 + i] = static_cast<std::uint8_t>(p.rtp_timestamp >> (24 - 8 * i));
    b[8] = 0x12;
    b[9] = 0x34;
    std::memcpy(b.data() + 12, p.bytes.data(), p.bytes.size());
    c.rtp.push_back(std::move(b));
  };
  for (std::size_t i = 0; i < n; ++i) {
    ism::Bytes au(au_size);
    for (std::size_t j = 0; j < au_size; ++j) au[j] = static_cast<std::uint8_t>(j * 13 + i);
    c.bso.push_back(pk->next_bso());
    ism::AccessUnit a;
    a.data = au;
    a.rtp_timestamp = static_cast<std::uint32_t>(i * 3000);
    a.rap = i % 30 == 0;
    a.key_indicator = kTekId;
    a.tek = kTek;
    auto r = pk->Push(a);
    if (!r) std::abort();
    for (const auto& p : *r) add_rtp(p);
    ism::Bytes enc = au;
    if (!cipher.Apply(kTek, f.salt, c.bso.back(), enc)) std::abort();
    c.encrypted.push_back(std::move(enc));
    c.clear.push_back(std::move(au));
    c.total_bytes += au_size;
  }
  for (const auto& p : pk->Flush()) add_rtp(p);
  return c;
}

GstCaps* Caps(const ism::Fmtp& f) {
  GstCaps* caps = gst_caps_new_simple(
      "application/x-rtp", "media", G_TYPE_STRING, "video", "clock-rate", G_TYPE_INT, 90000,
      "encoding-name", G_TYPE_STRING, "ENC-MPEG4-GENERIC", "payload", G_TYPE_INT, 96, nullptr);
  GstStructure* s = gst_caps_get_structure(caps, 0);
  g_auto(GStrv) items = g_strsplit(ism::FormatFmtp(f).c_str(), "; ", -1);
  for (gchar** it = items; *it; ++it) {
    gchar* eq = strchr(*it, '=');
    if (!eq) continue;
    *eq = '\0';
    g_autofree gchar* key = g_ascii_strdown(*it, -1);
    gst_structure_set(s, key, G_TYPE_STRING, eq + 1, nullptr);
  }
  return caps;
}

struct Run {
  double seconds = 0;
  std::uint64_t out = 0;
  bool first_ok = false;
};

struct Sink {
  std::uint64_t count = 0;
  bool first_ok = false;
  const ism::Bytes* expect_first = nullptr;
};

GstFlowReturn SinkChain(GstPad* pad, GstObject*, GstBuffer* buf) {
  auto* sink = static_cast<Sink*>(gst_pad_get_element_private(pad));
  if (sink->count++ == 0) {
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

// `list`: the packets go in as GstBufferLists of kListSize (what udpsrc/rtpjitterbuffer pass on
// when they have several packets at once), else one gst_pad_push per packet.
constexpr std::size_t kListSize = 32;

// The timed part of the element runs, a function of its own so that callgrind can count it alone
// (valgrind --tool=callgrind --toggle-collect='*PushPackets*').
[[gnu::noinline]] void PushPackets(GstPad* src, const std::vector<GstBuffer*>& in, bool list) {
  if (list) {
    for (std::size_t i = 0; i < in.size(); i += kListSize) {
      const std::size_t n = std::min(kListSize, in.size() - i);
      GstBufferList* l = gst_buffer_list_new_sized(static_cast<guint>(n));
      for (std::size_t j = 0; j < n; ++j) gst_buffer_list_add(l, in[i + j]);
      if (gst_pad_push_list(src, l) != GST_FLOW_OK) break;
    }
  } else {
    for (GstBuffer* b : in) {
      if (gst_pad_push(src, b) != GST_FLOW_OK) break;
    }
  }
}

// `shared`: the bench keeps a ref on every packet (as a tee upstream would), so the element must
// decrypt into new buffers instead of in place.
Run RunElement(const Corpus& c, const char* factory, bool list = false, bool shared = false) {
  Run run;
  const bool identity = std::strcmp(factory, "identity") == 0;
  GstElement* e = gst_element_factory_make(factory, nullptr);
  gst_object_ref_sink(e);
  BcastKeyring* ring = bcast_keyring_new();
  ism::AddIsmacrypTek(ring, kTekId, kTek);
  GstContext* ctx = bcast_keyring_context_new(ring);
  gst_element_set_context(e, ctx);
  gst_context_unref(ctx);

  Sink sink;
  sink.expect_first = identity ? &c.rtp.front() : &c.clear.front();
  GstPad* src = gst_pad_new("src", GST_PAD_SRC);
  GstPad* snk = gst_pad_new("sink", GST_PAD_SINK);
  gst_pad_set_chain_function(snk, SinkChain);
  gst_pad_set_event_function(snk, SinkEvent);
  gst_pad_set_element_private(snk, &sink);
  GstPad* esink = gst_element_get_static_pad(e, "sink");
  GstPad* esrc = gst_element_get_static_pad(e, "src");
  if (gst_pad_link(src, esink) != GST_PAD_LINK_OK || gst_pad_link(esrc, snk) != GST_PAD_LINK_OK) {
    std::exit(1);
  }
  gst_pad_set_active(src, TRUE);
  gst_pad_set_active(snk, TRUE);
  gst_element_set_state(e, GST_STATE_PLAYING);
  gst_pad_push_event(src, gst_event_new_stream_start("bench"));
  GstCaps* caps = Caps(VideoFmtp());
  gst_pad_push_event(src, gst_event_new_caps(caps));
  gst_caps_unref(caps);
  GstSegment seg;
  gst_segment_init(&seg, GST_FORMAT_TIME);
  gst_pad_push_event(src, gst_event_new_segment(&seg));

  // The packets are made before the clock starts, as the bare loops get their input ready made:
  // the source's allocation and copy (udpsrc's recvmsg into its buffer) is the same for a clear
  // and a protected pipeline and is not the element's cost. Each buffer is what a source hands
  // on: one owner, writable.
  std::vector<GstBuffer*> in;
  in.reserve(c.rtp.size());
  for (const ism::Bytes& p : c.rtp) in.push_back(gst_buffer_new_memdup(p.data(), p.size()));
  std::vector<GstBuffer*> held;
  if (shared) {
    for (GstBuffer* b : in) held.push_back(gst_buffer_ref(b));
  }
  const double t0 = bench::ThreadCpuSeconds();
  PushPackets(src, in, list);
  run.seconds = bench::ThreadCpuSeconds() - t0;
  for (GstBuffer* b : held) gst_buffer_unref(b);
  run.out = sink.count;
  if (identity && sink.count == c.rtp.size()) run.out = c.clear.size();  // counted per AU
  run.first_ok = sink.first_ok;

  gst_element_set_state(e, GST_STATE_NULL);
  gst_pad_set_active(src, FALSE);
  gst_pad_set_active(snk, FALSE);
  gst_pad_unlink(src, esink);
  gst_pad_unlink(esrc, snk);
  gst_object_unref(esink);
  gst_object_unref(esrc);
  gst_object_unref(src);
  gst_object_unref(snk);
  gst_object_unref(e);
  g_object_unref(ring);
  return run;
}

Run RunCtrCipher(const Corpus& c) {
  Run r;
  ism::CtrCipher cipher;
  const ism::Salt salt{};
  ism::Bytes work(c.au_size);
  const double t0 = bench::ThreadCpuSeconds();
  for (std::size_t i = 0; i < c.encrypted.size(); ++i) {
    std::memcpy(work.data(), c.encrypted[i].data(), c.au_size);
    if (cipher.Apply(kTek, salt, c.bso[i], work) && r.out++ == 0) r.first_ok = work == c.clear[0];
  }
  r.seconds = bench::ThreadCpuSeconds() - t0;
  return r;
}

struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};

// The timed part of RunOpenssl (a function of its own for callgrind, as PushPackets).
[[gnu::noinline]] void OpensslLoop(const Corpus& c, EVP_CIPHER_CTX* ctx, ism::Bytes& work, Run& r) {
  std::uint8_t skip[16];
  for (std::size_t i = 0; i < c.encrypted.size(); ++i) {
    std::memcpy(work.data(), c.encrypted[i].data(), c.au_size);
    const std::uint64_t block = c.bso[i] / 16;
    std::uint8_t iv[16] = {};
    for (int b = 0; b < 8; ++b) iv[8 + b] = static_cast<std::uint8_t>(block >> (56 - 8 * b));
    int len = 0;
    if (EVP_DecryptInit_ex(ctx, nullptr, nullptr, nullptr, iv) != 1) continue;
    const int offset = static_cast<int>(c.bso[i] % 16);
    if (offset && EVP_DecryptUpdate(ctx, skip, &len, skip, offset) != 1) continue;
    if (EVP_DecryptUpdate(ctx, work.data(), &len, work.data(), static_cast<int>(c.au_size)) != 1) {
      continue;
    }
    if (r.out++ == 0) r.first_ok = work == c.clear[0];
  }
}

// One keyed context; per AU: IV = salt ‖ BSO/16, skip BSO mod 16 key stream bytes, decrypt.
Run RunOpenssl(const Corpus& c) {
  Run r;
  std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree> ctx(EVP_CIPHER_CTX_new());
  EVP_DecryptInit_ex(ctx.get(), EVP_aes_128_ctr(), nullptr, kTek.data(), nullptr);
  ism::Bytes work(c.au_size);
  const double t0 = bench::ThreadCpuSeconds();
  OpensslLoop(c, ctx.get(), work, r);
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
  if (!GST_ELEMENT_REGISTER(ismacrypdec, nullptr)) return 1;
  std::size_t total = 16u << 20;
  int reps = 7;
  std::vector<std::size_t> sizes = {256, 1024, 4096, 16384};
  std::string only;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--bytes") total = std::strtoul(argv[i + 1], nullptr, 10);
    if (a == "--reps") reps = std::atoi(argv[i + 1]);
    if (a == "--sizes") sizes = ParseSizes(argv[i + 1]);
    if (a == "--only") only = argv[i + 1];
  }
  struct Candidate {
    const char* name;
    std::function<Run(const Corpus&)> run;
  };
  std::vector<Candidate> candidates = {
      {"openssl", RunOpenssl},
      {"ctrcipher", RunCtrCipher},
      {"identity", [](const Corpus& c) { return RunElement(c, "identity"); }},
      {"ismacrypdec", [](const Corpus& c) { return RunElement(c, "ismacrypdec"); }},
      {"ismacrypdec-list", [](const Corpus& c) { return RunElement(c, "ismacrypdec", true); }},
      {"ismacrypdec-shared",
       [](const Corpus& c) { return RunElement(c, "ismacrypdec", false, true); }}};
  if (!only.empty()) {
    std::erase_if(candidates, [&](const Candidate& c) { return only != c.name; });
  }
  int status = 0;
  for (std::size_t size : sizes) {
    const std::size_t n = std::clamp<std::size_t>(total / size, 256, 32768);
    const Corpus corpus = MakeCorpus(size, n);
    for (const Candidate& cand : candidates) cand.run(corpus);  // warm-up
    // Repetitions are interleaved so that every candidate sees the same machine load.
    std::vector<std::vector<double>> rates(candidates.size());
    std::vector<Run> last(candidates.size());
    std::vector<bool> first_ok(candidates.size(), true);
    for (int rep = 0; rep < reps; ++rep) {
      for (std::size_t i = 0; i < candidates.size(); ++i) {
        last[i] = candidates[i].run(corpus);
        first_ok[i] = first_ok[i] && last[i].first_ok;
        rates[i].push_back(last[i].seconds > 0 ? static_cast<double>(last[i].out) / last[i].seconds
                                               : 0);
      }
    }
    for (std::size_t i = 0; i < candidates.size(); ++i) {
      const double aus = bench::Median(rates[i]);
      const bool ok = last[i].out == corpus.clear.size() && first_ok[i];
      if (!ok) {
        std::fprintf(stderr, "bench_ismacryp: %s at %zu B: %llu of %zu AUs out, first %s\n",
                     candidates[i].name, size, static_cast<unsigned long long>(last[i].out),
                     corpus.clear.size(), first_ok[i] ? "ok" : "WRONG");
        status = 1;
      }
      bench::Result("ismacryp")
          .Add("name", candidates[i].name)
          .Add("size", static_cast<double>(size))
          .Add("aus", static_cast<double>(corpus.clear.size()))
          .Add("rtp_packets", static_cast<double>(corpus.rtp.size()))
          .Add("reps", reps)
          .Add("au_per_s", aus)
          .Add("mb_per_s", aus * static_cast<double>(size) / 1e6)
          .Add("ok", ok ? "yes" : "no")
          .Print();
    }
  }
  gst_deinit();
  return status;
}
