// gst-inspect-1.0 on the built plugin: it loads, lists every element, and inspecting each element
// (which instantiates it and reads every property) prints no GLib warning or critical.
#include <glib.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

struct InspectRun {
  int status = -1;
  std::string out;
  std::string err;
};

InspectRun Inspect(const std::vector<std::string>& args) {
  std::vector<gchar*> argv;
  argv.push_back(const_cast<gchar*>("gst-inspect-1.0"));
  for (const auto& a : args) argv.push_back(const_cast<gchar*>(a.c_str()));
  argv.push_back(nullptr);
  InspectRun run;
  gchar* out = nullptr;
  gchar* err = nullptr;
  GError* error = nullptr;
  gboolean ok = g_spawn_sync(nullptr, argv.data(), nullptr, G_SPAWN_SEARCH_PATH, nullptr, nullptr,
                             &out, &err, &run.status, &error);
  EXPECT_TRUE(ok) << (error != nullptr ? error->message : "");
  g_clear_error(&error);
  run.out = out != nullptr ? out : "";
  run.err = err != nullptr ? err : "";
  g_free(out);
  g_free(err);
  return run;
}

void ExpectClean(const InspectRun& run) {
  GError* error = nullptr;
  EXPECT_TRUE(g_spawn_check_wait_status(run.status, &error))
      << (error != nullptr ? error->message : "") << "\n"
      << run.err;
  g_clear_error(&error);
  for (const char* bad : {"CRITICAL", "WARNING", "ERROR", "Could not load"}) {
    EXPECT_EQ(run.err.find(bad), std::string::npos) << run.err;
  }
}

TEST(GstInspect, PluginByPathListsAllElements) {
  const char* path = g_getenv("BCASTPROTECT_PLUGIN");
  ASSERT_NE(path, nullptr) << "BCASTPROTECT_PLUGIN not set (run through meson test)";
  InspectRun run = Inspect({path});
  ExpectClean(run);
  for (const char* element : {"stkmparse", "tekdec", "bcastsrtpdec", "ismacrypdec"}) {
    EXPECT_NE(run.out.find(std::string("  ") + element + ":"), std::string::npos)
        << element << " missing in:\n"
        << run.out;
  }
}

TEST(GstInspect, PluginByNameFromPluginPath) {
  InspectRun run = Inspect({"bcastprotect"});
  ExpectClean(run);
  EXPECT_NE(run.out.find("bcastprotect"), std::string::npos) << run.out;
  for (const char* element : {"stkmparse", "tekdec", "bcastsrtpdec", "ismacrypdec"}) {
    EXPECT_NE(run.out.find(element), std::string::npos) << element;
  }
}

TEST(GstInspect, EachElementInspectsCleanly) {
  struct Expect {
    const char* element;
    std::vector<const char*> words;
  };
  const std::vector<Expect> expects = {
      {"stkmparse",
       {"application/x-bcast-stkm", "base-cid", "repeat-timeout", "accepted", "malformed",
        "repeats"}},
      {"tekdec",
       {"application/x-bcast-stkm", "sek-file", "base-cid", "teks", "bad-mac", "no-rights",
        "malformed"}},
      {"bcastsrtpdec", {}},
      {"ismacrypdec", {}},
  };
  for (const auto& e : expects) {
    InspectRun run = Inspect({e.element});
    ExpectClean(run);
    for (const char* word : e.words) {
      EXPECT_NE(run.out.find(word), std::string::npos) << e.element << " lacks " << word;
    }
  }
}

}  // namespace
