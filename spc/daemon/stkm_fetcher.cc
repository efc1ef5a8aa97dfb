#include "spc/daemon/stkm_fetcher.h"

#include <glib.h>

#include <cstdio>
#include <utility>

#include "spc/libspc/stkm_fetch_response.h"

namespace spc::daemon {

StkmFetcher::StkmFetcher(channels::InteractionOptions options) : channel_(std::move(options)) {}

std::string StkmFetcher::RequestUrl(const std::string& stkm_url, const std::string& base_cid,
                                    std::uint32_t key_domain,
                                    std::optional<std::uint32_t> cid_extension) {
  g_autofree gchar* cid = g_uri_escape_string(base_cid.c_str(), nullptr, FALSE);
  char domain[16];
  std::snprintf(domain, sizeof domain, "%06x", key_domain & 0xffffff);
  std::string url = stkm_url + (stkm_url.find('?') == std::string::npos ? "?" : "&") +
                    "basecid=" + cid + "&keydomain=" + domain;
  if (cid_extension) {
    char ext[16];
    std::snprintf(ext, sizeof ext, "%08x", *cid_extension);
    url += std::string("&cidext=") + ext;
  }
  return url;
}

void StkmFetcher::Fetch(const std::string& stkm_url, const std::string& base_cid,
                        std::uint32_t key_domain, Callback done) {
  ++counters_.requests;
  channels::HttpRequest req;
  req.method = "GET";
  req.url = RequestUrl(stkm_url, base_cid, key_domain);
  req.accept = {spc::kStkmMediaType};
  auto fail = [this](Callback& cb, FetchFailure f) {
    ++counters_.errors;
    counters_.last_error = f.dbus_name + ": " + f.message;
    g_message("STKM fetch failed: %s", counters_.last_error.c_str());
    cb(std::move(f));
  };
  channel_.Send(std::move(req), [this, fail, done = std::move(done),
                                 url = RequestUrl(stkm_url, base_cid, key_domain)](
                                    channels::InteractionChannel::Result r) mutable {
    if (!r) {
      const channels::InteractionError& e = r.error();
      if (e.code == channels::InteractionErrorCode::kClientError && e.http_status == 404) {
        return fail(done, {std::string(kErrorPrefix) + "Fetch.UnknownService",
                           url + ": the BSM does not know this service (HTTP 404)"});
      }
      return fail(done, {std::string(kErrorPrefix) + "Interaction." +
                             std::string(channels::InteractionErrorName(e.code)),
                         e.message});
    }
    if (r->status == 204) {
      return fail(done, {std::string(kErrorPrefix) + "Fetch.NoCurrentKey",
                         url + ": the BSM has no current key for this service (HTTP 204)"});
    }
    auto parsed = spc::ParseStkmFetchResponse(r->body);
    if (!parsed) {
      const ParseError& pe = parsed.error();
      return fail(done, {std::string(kErrorPrefix) + "Malformed",
                         "STKM fetch answer from " + url + ": " + pe.message + " (field " +
                             pe.field + ", offset " + std::to_string(pe.offset) + ")"});
    }
    ++counters_.answers;
    Stkms out;
    for (const spc::FetchedStkm& s : *parsed) out.emplace_back(s.bytes.begin(), s.bytes.end());
    done(std::move(out));
  });
}

}  // namespace spc::daemon
