// Milenage (3GPP TS 35.206): the AKA functions f1, f1*, f2, f3, f4, f5, f5* on AES-128 from
// OpenSSL. Used by the virtual card (bcast-uicc) and by the head-end's BSF, which must agree bit
// for bit; both are checked against the TS 35.207/35.208 test sets.
#pragma once

#include <array>
#include <cstdint>
#include <span>

namespace spc::smartcard {

using Key128 = std::array<std::uint8_t, 16>;
using Rand128 = std::array<std::uint8_t, 16>;
using Sqn = std::array<std::uint8_t, 6>;
using Amf = std::array<std::uint8_t, 2>;
using Mac64 = std::array<std::uint8_t, 8>;
using Ak = std::array<std::uint8_t, 6>;

// OPc = E_K(OP) XOR OP.
Key128 MilenageOpc(std::span<const std::uint8_t, 16> k, std::span<const std::uint8_t, 16> op);

struct MilenageF1Out {
  Mac64 mac_a;  // f1
  Mac64 mac_s;  // f1* (resynchronisation)
};
MilenageF1Out MilenageF1(std::span<const std::uint8_t, 16> k, std::span<const std::uint8_t, 16> opc,
                         std::span<const std::uint8_t, 16> rand,
                         std::span<const std::uint8_t, 6> sqn,
                         std::span<const std::uint8_t, 2> amf);

struct MilenageF2345Out {
  Mac64 res;  // f2
  Key128 ck;  // f3
  Key128 ik;  // f4
  Ak ak;      // f5
  Ak ak_s;    // f5* (resynchronisation)
  ~MilenageF2345Out();
};
MilenageF2345Out MilenageF2345(std::span<const std::uint8_t, 16> k,
                               std::span<const std::uint8_t, 16> opc,
                               std::span<const std::uint8_t, 16> rand);

// AUTN = SQN xor AK || AMF || MAC-A, as the network (BSF) builds it.
using Autn = std::array<std::uint8_t, 16>;
Autn MilenageMakeAutn(std::span<const std::uint8_t, 16> k, std::span<const std::uint8_t, 16> opc,
                      std::span<const std::uint8_t, 16> rand, std::span<const std::uint8_t, 6> sqn,
                      std::span<const std::uint8_t, 2> amf);

// AUTS = SQN_MS xor AK* || MAC-S (TS 33.102 §6.3.3), as the card builds it on a sequence failure.
using Auts = std::array<std::uint8_t, 14>;
Auts MilenageMakeAuts(std::span<const std::uint8_t, 16> k, std::span<const std::uint8_t, 16> opc,
                      std::span<const std::uint8_t, 16> rand,
                      std::span<const std::uint8_t, 6> sqn_ms);

// The network side of a resynchronisation: SQN_MS from AUTS when MAC-S checks (AMF 0000 as TS
// 33.102 requires for f1*), false otherwise.
bool MilenageResync(std::span<const std::uint8_t, 16> k, std::span<const std::uint8_t, 16> opc,
                    std::span<const std::uint8_t, 16> rand, std::span<const std::uint8_t, 14> auts,
                    Sqn& sqn_ms);

}  // namespace spc::smartcard
