// RFC 9162 Merkle tree: roots, inclusion and consistency proofs of every
// size up to 70 against the specification's recursive definitions, and
// proofs that must not verify.
#include <catch2/catch.hpp>

#include <map>

#include "absl/strings/str_cat.h"
#include "cantdo/tlog/merkle.hpp"

using namespace cantdo::tlog;

namespace {

// MTH(D[lo:hi]) straight from RFC 9162 2.1.1.
Hash Mth(const std::vector<Hash>& leaves, int64_t lo, int64_t hi) {
  if (hi - lo == 1) return leaves[lo];
  int64_t k = 1;
  while (k * 2 < hi - lo) k *= 2;
  return NodeHash(Mth(leaves, lo, lo + k), Mth(leaves, lo + k, hi));
}

std::vector<Hash> Leaves(int n, const std::string& salt = "") {
  std::vector<Hash> out;
  for (int i = 0; i < n; ++i) out.push_back(LeafHash(absl::StrCat("entry ", i, salt)));
  return out;
}

// A store of perfect subtrees built the way the chainer builds it.
struct Store {
  std::map<std::pair<int, int64_t>, Hash> nodes;
  int reads = 0;
  explicit Store(const std::vector<Hash>& leaves) {
    auto range = CompactRange::Of(0, {});
    REQUIRE(range.ok());
    for (const Hash& l : leaves) {
      for (const auto& [node, hash] : range->Append(l)) nodes[{node.level, node.index}] = hash;
    }
  }
  NodeReader Reader() {
    return [this](const std::vector<Node>& want) -> absl::StatusOr<std::vector<Hash>> {
      ++reads;
      std::vector<Hash> out;
      for (const Node& n : want) {
        auto it = nodes.find({n.level, n.index});
        if (it == nodes.end()) return absl::NotFoundError("no such node");
        out.push_back(it->second);
      }
      return out;
    };
  }
};

}  // namespace

TEST_CASE("leaf and node hashes use the RFC 9162 prefixes", "[unit][tlog]") {
  // SHA-256(0x00) and SHA-256(0x01 || 0^32 || 0^32), computed elsewhere.
  CHECK(HashHex(LeafHash("")) == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
  CHECK(HashHex(EmptyRoot()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  Hash zero{};
  CHECK(HashHex(NodeHash(zero, zero)) != HashHex(LeafHash(std::string(64, '\0'))));
}

TEST_CASE("roots from stored subtrees equal the recursive definition for every size", "[unit][tlog]") {
  const auto leaves = Leaves(70);
  Store store(leaves);
  for (int n = 1; n <= 70; ++n) {
    INFO(n);
    auto root = TreeRoot(n, store.Reader());
    REQUIRE(root.ok());
    CHECK(*root == Mth(leaves, 0, n));
    std::vector<Hash> prefix(leaves.begin(), leaves.begin() + n);
    CHECK(*TreeRoot(n, LeafNodeReader(prefix)) == *root);
  }
  // An incrementally built range gives the same root.
  auto range = CompactRange::Of(0, {});
  for (int n = 1; n <= 70; ++n) {
    range->Append(leaves[n - 1]);
    CHECK(range->Root() == Mth(leaves, 0, n));
  }
}

TEST_CASE("every inclusion proof verifies, and no altered one does", "[unit][tlog]") {
  const auto leaves = Leaves(70);
  Store store(leaves);
  for (int n = 1; n <= 70; ++n) {
    const Hash root = Mth(leaves, 0, n);
    for (int i = 0; i < n; ++i) {
      INFO(n << " " << i);
      store.reads = 0;
      auto proof = InclusionProof(i, n, store.Reader());
      REQUIRE(proof.ok());
      CHECK(store.reads == (n > 1 ? 1 : 0));  // one round trip to the store per proof
      CHECK(VerifyInclusion(i, n, leaves[i], *proof, root).ok());
      CHECK_FALSE(VerifyInclusion(i, n, LeafHash("forged"), *proof, root).ok());
      if (n > 1) CHECK_FALSE(VerifyInclusion((i + 1) % n, n, leaves[i], *proof, root).ok());
      if (!proof->empty()) {
        auto shorter = *proof;
        shorter.pop_back();
        CHECK_FALSE(VerifyInclusion(i, n, leaves[i], shorter, root).ok());
        auto bent = *proof;
        bent[0][0] ^= 1;
        CHECK_FALSE(VerifyInclusion(i, n, leaves[i], bent, root).ok());
      }
    }
  }
}

TEST_CASE("every consistency proof verifies, and a fork of the same history does not", "[unit][tlog]") {
  const auto leaves = Leaves(40);
  Store store(leaves);
  for (int m = 1; m <= 40; ++m) {
    for (int n = m; n <= 40; ++n) {
      INFO(m << " -> " << n);
      auto proof = ConsistencyProof(m, n, store.Reader());
      REQUIRE(proof.ok());
      const Hash old_root = Mth(leaves, 0, m), new_root = Mth(leaves, 0, n);
      CHECK(VerifyConsistency(m, n, old_root, new_root, *proof).ok());
      // A log that rewrote leaf 0 and grew cannot prove it extends m.
      auto forked = leaves;
      forked[0] = LeafHash("rewritten");
      CHECK_FALSE(VerifyConsistency(m, n, old_root, Mth(forked, 0, n), *proof).ok());
      CHECK_FALSE(VerifyConsistency(m, n, Mth(forked, 0, m), new_root, *proof).ok());
    }
  }
  CHECK_FALSE(VerifyConsistency(5, 5, Mth(leaves, 0, 5), Mth(Leaves(5, "x"), 0, 5), {}).ok());
}

TEST_CASE("the first difference between two trees is found from an authenticated tree", "[unit][tlog]") {
  const auto leaves = Leaves(70);
  Store honest(leaves);
  for (int changed : {0, 1, 40, 63, 64, 69}) {
    INFO(changed);
    auto edited = leaves;
    edited[changed] = LeafHash("edited");
    const Hash root = Mth(leaves, 0, 70);
    auto where = FirstDifference(70, root, honest.Reader(), LeafNodeReader(edited));
    REQUIRE(where.ok());
    CHECK(where->exact());
    CHECK(where->lo == changed);
    // A tree rebuilt to match the edit does not authenticate: only the range.
    Store rebuilt(edited);
    auto unknown = FirstDifference(70, root, rebuilt.Reader(), LeafNodeReader(edited));
    REQUIRE(unknown.ok());
    CHECK_FALSE(unknown->exact());
  }
}
