#include "spc/libspc/smartcard/milenage.h"

#include <algorithm>

#include "spc/libspc/crypto.h"

namespace spc::smartcard {
namespace {

using Block = std::array<std::uint8_t, 16>;

Block Xor(std::span<const std::uint8_t, 16> a, std::span<const std::uint8_t, 16> b) {
  Block out{};
  for (std::size_t i = 0; i < 16; ++i) out[i] = a[i] ^ b[i];
  return out;
}

// Cyclic left rotation by r bits; every r of TS 35.206 is a multiple of 8.
Block RotateBytes(const Block& in, std::size_t bytes) {
  Block out{};
  for (std::size_t i = 0; i < 16; ++i) out[i] = in[(i + bytes) % 16];
  return out;
}

Block E(std::span<const std::uint8_t, 16> k, const Block& in) {
  return Aes128EcbEncryptBlock(k, std::span<const std::uint8_t, 16>(in));
}

}  // namespace

MilenageF2345Out::~MilenageF2345Out() {
  Cleanse(ck);
  Cleanse(ik);
  Cleanse(ak);
  Cleanse(ak_s);
  Cleanse(res);
}

Key128 MilenageOpc(std::span<const std::uint8_t, 16> k, std::span<const std::uint8_t, 16> op) {
  Block o{};
  std::copy(op.begin(), op.end(), o.begin());
  return Xor(E(k, o), op);
}

MilenageF1Out MilenageF1(std::span<const std::uint8_t, 16> k, std::span<const std::uint8_t, 16> opc,
                         std::span<const std::uint8_t, 16> rand,
                         std::span<const std::uint8_t, 6> sqn,
                         std::span<const std::uint8_t, 2> amf) {
  Block temp = E(k, Xor(rand, opc));
  Block in1{};
  std::copy(sqn.begin(), sqn.end(), in1.begin());
  std::copy(amf.begin(), amf.end(), in1.begin() + 6);
  std::copy(sqn.begin(), sqn.end(), in1.begin() + 8);
  std::copy(amf.begin(), amf.end(), in1.begin() + 14);
  // OUT1 = E_K(TEMP xor rot(IN1 xor OPc, r1) xor c1) xor OPc, r1 = 64, c1 = 0.
  Block x = RotateBytes(Xor(in1, opc), 8);
  for (std::size_t i = 0; i < 16; ++i) x[i] ^= temp[i];
  Block out1 = Xor(E(k, x), opc);
  MilenageF1Out result;
  std::copy(out1.begin(), out1.begin() + 8, result.mac_a.begin());
  std::copy(out1.begin() + 8, out1.end(), result.mac_s.begin());
  Cleanse(temp);
  Cleanse(x);
  Cleanse(out1);
  return result;
}

MilenageF2345Out MilenageF2345(std::span<const std::uint8_t, 16> k,
                               std::span<const std::uint8_t, 16> opc,
                               std::span<const std::uint8_t, 16> rand) {
  Block temp = E(k, Xor(rand, opc));
  // OUT_n = E_K(rot(TEMP xor OPc, r_n) xor c_n) xor OPc; r2..r5 = 0, 32, 64, 96 bits.
  auto out_n = [&](std::size_t rot_bytes, std::uint8_t c) {
    Block x = RotateBytes(Xor(temp, opc), rot_bytes);
    x[15] ^= c;
    Block o = Xor(E(k, x), opc);
    Cleanse(x);
    return o;
  };
  Block out2 = out_n(0, 1);
  Block out3 = out_n(4, 2);
  Block out4 = out_n(8, 4);
  Block out5 = out_n(12, 8);
  MilenageF2345Out r;
  std::copy(out2.begin() + 8, out2.end(), r.res.begin());
  std::copy(out2.begin(), out2.begin() + 6, r.ak.begin());
  r.ck = out3;
  r.ik = out4;
  std::copy(out5.begin(), out5.begin() + 6, r.ak_s.begin());
  Cleanse(temp);
  Cleanse(out2);
  Cleanse(out3);
  Cleanse(out4);
  Cleanse(out5);
  return r;
}

Autn MilenageMakeAutn(std::span<const std::uint8_t, 16> k, std::span<const std::uint8_t, 16> opc,
                      std::span<const std::uint8_t, 16> rand, std::span<const std::uint8_t, 6> sqn,
                      std::span<const std::uint8_t, 2> amf) {
  MilenageF1Out f1 = MilenageF1(k, opc, rand, sqn, amf);
  MilenageF2345Out f = MilenageF2345(k, opc, rand);
  Autn autn{};
  for (std::size_t i = 0; i < 6; ++i) autn[i] = sqn[i] ^ f.ak[i];
  std::copy(amf.begin(), amf.end(), autn.begin() + 6);
  std::copy(f1.mac_a.begin(), f1.mac_a.end(), autn.begin() + 8);
  return autn;
}

Auts MilenageMakeAuts(std::span<const std::uint8_t, 16> k, std::span<const std::uint8_t, 16> opc,
                      std::span<const std::uint8_t, 16> rand,
                      std::span<const std::uint8_t, 6> sqn_ms) {
  static constexpr Amf kResyncAmf{0, 0};
  MilenageF1Out f1 = MilenageF1(k, opc, rand, sqn_ms, kResyncAmf);
  MilenageF2345Out f = MilenageF2345(k, opc, rand);
  Auts auts{};
  for (std::size_t i = 0; i < 6; ++i) auts[i] = sqn_ms[i] ^ f.ak_s[i];
  std::copy(f1.mac_s.begin(), f1.mac_s.end(), auts.begin() + 6);
  return auts;
}

bool MilenageResync(std::span<const std::uint8_t, 16> k, std::span<const std::uint8_t, 16> opc,
                    std::span<const std::uint8_t, 16> rand, std::span<const std::uint8_t, 14> auts,
                    Sqn& sqn_ms) {
  static constexpr Amf kResyncAmf{0, 0};
  MilenageF2345Out f = MilenageF2345(k, opc, rand);
  Sqn sqn{};
  for (std::size_t i = 0; i < 6; ++i) sqn[i] = auts[i] ^ f.ak_s[i];
  MilenageF1Out f1 = MilenageF1(k, opc, rand, sqn, kResyncAmf);
  if (!ConstantTimeEqual(f1.mac_s, auts.subspan<6, 8>())) return false;
  sqn_ms = sqn;
  return true;
}

}  // namespace spc::smartcard
