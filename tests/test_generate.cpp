// Sampler and UTF-8 streaming.
#include <seer/generate.h>

#include <map>

#include "test_util.h"

namespace seer {
namespace {

TEST(Sampler, GreedyIsArgmax) {
  auto logits = test::random_vector(1000, 5);
  logits[417] = 10.0f;
  SamplingParams p;
  p.temperature = 0.0f;
  Sampler s(p);
  EXPECT_EQ(s.sample(logits), 417);
}

TEST(Sampler, SameSeedSameTokens) {
  auto logits = test::random_vector(500, 9, -3, 3);
  SamplingParams p;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.seed = 1234;
  Sampler a(p), b(p);
  std::vector<int> ta, tb;
  for (int i = 0; i < 50; ++i) ta.push_back(a.sample(logits)), tb.push_back(b.sample(logits));
  EXPECT_EQ(ta, tb);
  p.seed = 99;
  Sampler c(p);
  std::vector<int> tc;
  for (int i = 0; i < 50; ++i) tc.push_back(c.sample(logits));
  EXPECT_NE(ta, tc);
}

TEST(Sampler, TopKRestrictsSupport) {
  std::vector<float> logits(100, 0.0f);
  for (int i = 0; i < 100; ++i) logits[size_t(i)] = float(i) * 0.01f;
  SamplingParams p;
  p.temperature = 1.0f;
  p.top_k = 3;
  p.top_p = 1.0f;
  p.seed = 7;
  Sampler s(p);
  std::map<int, int> seen;
  for (int i = 0; i < 2000; ++i) seen[s.sample(logits)]++;
  EXPECT_EQ(seen.size(), 3u);
  for (auto [tok, cnt] : seen) EXPECT_GE(tok, 97);
}

TEST(Sampler, TopPMatchesDistribution) {
  // probabilities 0.5, 0.3, 0.15, 0.05: top_p 0.75 keeps the first two, renormalised to 0.625/0.375
  std::vector<float> logits = {std::log(0.5f), std::log(0.3f), std::log(0.15f), std::log(0.05f)};
  SamplingParams p;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 0.75f;
  p.seed = 3;
  Sampler s(p);
  int counts[4] = {0, 0, 0, 0};
  const int n = 20000;
  for (int i = 0; i < n; ++i) counts[s.sample(logits)]++;
  EXPECT_EQ(counts[2] + counts[3], 0);
  EXPECT_NEAR(counts[0] / double(n), 0.625, 0.02);
}

TEST(Utf8Stream, NeverSplitsACharacter) {
  const std::string text = "h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80!";  // héllo € 😀!
  for (size_t cut = 0; cut <= text.size(); ++cut) {
    Utf8Stream s;
    std::string a = s.push(text.substr(0, cut));
    std::string b = s.push(text.substr(cut));
    std::string c = s.flush();
    EXPECT_EQ(a + b + c, text);
    EXPECT_TRUE(c.empty());
    // a must end on a character boundary: re-pushing it alone leaves nothing pending
    Utf8Stream t;
    EXPECT_EQ(t.push(a), a);
  }
}

}  // namespace
}  // namespace seer
