// The zap record of bcast-player: channel folder listing, percentiles, summary and JSON.
#include <glib.h>
#include <glib/gstdio.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "player/zap_log.h"

namespace {

TEST(ZapLog, PercentileInterpolatesBetweenRanks) {
  EXPECT_FALSE(player::Percentile({}, 50).has_value());
  EXPECT_DOUBLE_EQ(*player::Percentile({7}, 90), 7);
  EXPECT_DOUBLE_EQ(*player::Percentile({4, 1, 3, 2}, 50), 2.5);
  EXPECT_DOUBLE_EQ(*player::Percentile({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 90), 9.1);
  EXPECT_DOUBLE_EQ(*player::Percentile({5, 1, 9}, 0), 1);
  EXPECT_DOUBLE_EQ(*player::Percentile({5, 1, 9}, 100), 9);
}

player::ZapChange Change(std::size_t n, gint64 ttff, const std::string& source) {
  player::ZapChange c;
  c.index = n;
  c.from = n == 0 ? 0 : n;
  c.to = n + 1;
  c.from_name = "a";
  c.to_name = "b \"quoted\"";
  c.ttff_ms = ttff;
  c.protected_service = true;
  c.tek_source = source;
  c.tek_id = 3;
  return c;
}

TEST(ZapLog, StatsCountChangesNotTheFirstTuneIn) {
  std::vector<player::ZapChange> changes = {Change(0, 900, "stkm"), Change(1, 100, "held"),
                                            Change(2, 300, "stkm"), Change(3, -1, "")};
  changes[3].error = "no video frame within 10 s";
  const auto s = player::ComputeZapStats(changes);
  EXPECT_EQ(s.changes, 3u);
  EXPECT_EQ(s.with_frame, 2u);
  EXPECT_EQ(s.prefetched, 1u);
  EXPECT_EQ(s.protected_changes, 3u);
  EXPECT_DOUBLE_EQ(*s.median_ttff_ms, 200);
  EXPECT_DOUBLE_EQ(*s.max_ttff_ms, 300);
}

TEST(ZapLog, JsonHasEveryChangeAndTheSummary) {
  std::vector<player::ZapChange> changes = {Change(0, 900, "stkm"), Change(1, 120, "held")};
  const std::string json = player::ZapReportToJson({"x.sdp", "y.sdp"}, changes, "spcd", {"n"});
  EXPECT_NE(json.find("\"initial\": {\"n\": 0, \"from\": null"), std::string::npos) << json;
  EXPECT_NE(json.find("\"ttff_ms\": 120, \"protected\": true, \"prefetched\": true, "
                      "\"tek_source\": \"held\""),
            std::string::npos)
      << json;
  EXPECT_NE(json.find("\"to_name\": \"b \\\"quoted\\\"\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"summary\": {\"changes\": 1, \"with_frame\": 1"), std::string::npos);
  EXPECT_NE(json.find("\"median_ttff_ms\": 120.0, \"p90_ttff_ms\": 120.0"), std::string::npos);
  EXPECT_EQ(player::ZapLine(changes[1]),
            "zap n=1 from=1 to=2 ttff_ms=120 protected=1 prefetched=1 tek_source=held "
            "tek_ready_ms=-1");
}

TEST(ZapLog, ChannelDirListsSdpFilesSortedByName) {
  g_autofree gchar* dir = g_dir_make_tmp("zap-units-XXXXXX", nullptr);
  ASSERT_NE(dir, nullptr);
  for (const char* name : {"b.sdp", "a.sdp", "notes.txt", "c.sdp"}) {
    g_autofree gchar* p = g_build_filename(dir, name, nullptr);
    ASSERT_TRUE(g_file_set_contents(p, "v=0\n", -1, nullptr));
  }
  std::vector<std::string> paths;
  std::string error;
  ASSERT_TRUE(player::ListChannelDir(dir, &paths, &error)) << error;
  ASSERT_EQ(paths.size(), 3u);
  EXPECT_TRUE(g_str_has_suffix(paths[0].c_str(), "/a.sdp"));
  EXPECT_TRUE(g_str_has_suffix(paths[2].c_str(), "/c.sdp"));
  for (const char* name : {"b.sdp", "a.sdp", "notes.txt", "c.sdp"}) {
    g_autofree gchar* p = g_build_filename(dir, name, nullptr);
    g_unlink(p);
  }
  EXPECT_FALSE(player::ListChannelDir(dir, &paths, &error));
  EXPECT_NE(error.find("no .sdp file"), std::string::npos);
  g_rmdir(dir);
  EXPECT_FALSE(player::ListChannelDir(std::string(dir) + "/missing", &paths, &error));
}

}  // namespace
