// libFuzzer target: every ROAP parser (the seven messages, the trigger, the protected RO and the
// RO alone), the writers on what they accept, and the RO opening path on what parses. The parser
// is chosen by the first "<roap:NAME" in the input so that one corpus covers them all.
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <iterator>
#include <string>
#include <string_view>

#include "spc/libspc/ltkm/ltkm_crypto.h"
#include "spc/libspc/roap/messages.h"
#include "spc/libspc/roap/protected_ro.h"

namespace {

using namespace spc::roap;  // NOLINT: fuzz target

void CheckError(const Error& e, std::size_t size) {
  // A rejection must say what and where.
  if (e.field.empty() || e.offset > size) std::abort();
}

template <class T, class W, class P>
void RoundTrip(const RoapResult<T>& parsed, std::size_t size, W write, P parse) {
  if (!parsed) {
    CheckError(parsed.error(), size);
    return;
  }
  // What parses must write and parse again to the same value.
  std::string written = write(*parsed);
  auto again = parse(written);
  if (!again) std::abort();
  if (write(*again) != written) std::abort();
}

EVP_PKEY* DeviceKey() {
  static spc::EvpPkeyPtr key(EVP_RSA_gen(1024));
  return key.get();
}

void OpenAll(const std::vector<ProtectedRo>& pros) {
  for (const ProtectedRo& pro : pros) {
    // Claim to be the addressed device so that the digest, RSA-KEM and MAC checks run. The key is
    // not the one the RO was made for: nothing may open.
    auto opened = OpenProtectedRo(pro, DeviceKey(), pro.ro.device_id, pro.ro.ri_id);
    if (opened.ok()) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  static constexpr std::string_view kNames[] = {
      "deviceHello",          "riHello",     "registrationRequest",
      "registrationResponse", "roRequest",   "roResponse",
      "roapTrigger",          "protectedRO", "ro "};
  // One pass over the "<roap:" openings rather than a find per name: every '<' cost a memcmp per
  // name, each hooked by libFuzzer (a third of the instructions per input). No name is a prefix of
  // another, so the first opening that names one picks the same parser.
  constexpr std::string_view kOpen = "<roap:";
  int which = 0;  // no name: the deviceHello parser
  for (std::size_t at = in.find(kOpen); at != std::string_view::npos; at = in.find(kOpen, at + 1)) {
    const std::string_view rest = in.substr(at + kOpen.size());
    const auto named = std::find_if(std::begin(kNames), std::end(kNames),
                                    [&](std::string_view name) { return rest.starts_with(name); });
    if (named != std::end(kNames)) {
      which = static_cast<int>(named - std::begin(kNames));
      break;
    }
  }
  switch (which) {
    case 0:
      RoundTrip(ParseDeviceHello(in), size, WriteDeviceHello, ParseDeviceHello);
      break;
    case 1:
      RoundTrip(ParseRiHello(in), size, WriteRiHello, ParseRiHello);
      break;
    case 2:
      RoundTrip(ParseRegistrationRequest(in), size, WriteRegistrationRequest,
                ParseRegistrationRequest);
      break;
    case 3:
      RoundTrip(ParseRegistrationResponse(in), size, WriteRegistrationResponse,
                ParseRegistrationResponse);
      break;
    case 4:
      RoundTrip(ParseRoRequest(in), size, WriteRoRequest, ParseRoRequest);
      break;
    case 5: {
      auto parsed = ParseRoResponse(in);
      RoundTrip(parsed, size, WriteRoResponse, ParseRoResponse);
      if (parsed && parsed->status == Status::kSuccess) {
        // The signed bytes are the input minus exactly the signature element.
        auto cut = CutSignature(in, true);
        if (!cut || *cut != parsed->unsigned_bytes) std::abort();
        OpenAll(parsed->protected_ros);
      }
      break;
    }
    case 6:
      RoundTrip(ParseRoapTrigger(in), size, WriteRoapTrigger, ParseRoapTrigger);
      break;
    case 7: {
      auto pro = ParseProtectedRo(in);
      if (!pro) {
        CheckError(pro.error(), size);
      } else {
        if (pro->bytes != in) std::abort();
        OpenAll({*pro});
      }
      break;
    }
    default:
      RoundTrip(ParseRightsObject(in), size, WriteRightsObject, ParseRightsObject);
      break;
  }
  return 0;
}
