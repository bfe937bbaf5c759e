#include "cantdo/tlog/merkle.hpp"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <cstdlib>
#include <memory>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "cantdo/base/status.hpp"

namespace cantdo::tlog {
namespace {

// The largest power of two strictly below n. REQUIRES: n > 1.
int64_t SplitPoint(int64_t n) {
  int64_t k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

struct Range {
  int64_t lo, hi;
};

// RFC 9162 2.1.3.1 PATH(m, D[lo:hi]), as the ranges whose hashes form it.
void InclusionRanges(int64_t m, int64_t lo, int64_t hi, std::vector<Range>& out) {
  if (hi - lo <= 1) return;
  const int64_t k = SplitPoint(hi - lo);
  if (m < lo + k) {
    InclusionRanges(m, lo, lo + k, out);
    out.push_back({lo + k, hi});
  } else {
    InclusionRanges(m, lo + k, hi, out);
    out.push_back({lo, lo + k});
  }
}

// RFC 9162 2.1.4.1 SUBPROOF(m, D[lo:hi], b).
void ConsistencyRanges(int64_t m, int64_t lo, int64_t hi, bool b, std::vector<Range>& out) {
  if (m == hi) {
    if (!b) out.push_back({lo, hi});
    return;
  }
  const int64_t k = SplitPoint(hi - lo);
  if (m <= lo + k) {
    ConsistencyRanges(m, lo, lo + k, b, out);
    out.push_back({lo + k, hi});
  } else {
    ConsistencyRanges(m, lo + k, hi, false, out);
    out.push_back({lo, lo + k});
  }
}

// The hashes of `ranges`, with one read of every node they need.
absl::StatusOr<std::vector<Hash>> RangeHashes(const std::vector<Range>& ranges, const NodeReader& read) {
  std::vector<Node> nodes;
  std::vector<size_t> first;
  for (const Range& r : ranges) {
    first.push_back(nodes.size());
    for (const Node& n : RangeNodes(r.lo, r.hi)) nodes.push_back(n);
  }
  first.push_back(nodes.size());
  if (nodes.empty()) return std::vector<Hash>{};
  CANTDO_ASSIGN_OR_RETURN(std::vector<Hash> hashes, read(nodes));
  if (hashes.size() != nodes.size()) return absl::InternalError("tree store returned the wrong number of hashes");
  std::vector<Hash> out;
  for (size_t i = 0; i + 1 < first.size(); ++i) {
    Hash h = hashes[first[i + 1] - 1];
    for (size_t j = first[i + 1] - 1; j > first[i]; --j) h = NodeHash(hashes[j - 1], h);
    out.push_back(h);
  }
  return out;
}

absl::Status ProofFailed(absl::string_view what) { return absl::DataLossError(absl::StrCat("tlog: ", what)); }

}  // namespace

Hash LeafHash(absl::string_view data) {
  // One digest context per thread: verification hashes millions of leaves.
  thread_local std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  Hash h;
  const unsigned char prefix = 0x00;
  unsigned int len = 0;
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), &prefix, 1) != 1 || EVP_DigestUpdate(ctx.get(), data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), h.data(), &len) != 1) {
    std::abort();  // SHA-256 is always available; failing here is a broken process
  }
  return h;
}

Hash NodeHash(const Hash& left, const Hash& right) {
  unsigned char buf[65];
  buf[0] = 0x01;
  std::copy(left.begin(), left.end(), buf + 1);
  std::copy(right.begin(), right.end(), buf + 33);
  Hash h;
  SHA256(buf, sizeof(buf), h.data());
  return h;
}

Hash EmptyRoot() {
  Hash h;
  SHA256(nullptr, 0, h.data());
  return h;
}

absl::string_view HashBytes(const Hash& h) { return {reinterpret_cast<const char*>(h.data()), h.size()}; }

std::string HashBase64(const Hash& h) { return absl::Base64Escape(HashBytes(h)); }

std::string HashHex(const Hash& h) { return absl::BytesToHexString(HashBytes(h)); }

absl::StatusOr<Hash> HashFromBytes(absl::string_view bytes) {
  if (bytes.size() != 32) return absl::InvalidArgumentError("a hash is 32 bytes");
  Hash h;
  std::copy(bytes.begin(), bytes.end(), h.begin());
  return h;
}

absl::StatusOr<Hash> HashFromBase64(absl::string_view b64) {
  std::string raw;
  if (!absl::Base64Unescape(b64, &raw)) return absl::InvalidArgumentError("hash is not base64");
  return HashFromBytes(raw);
}

std::vector<Node> RangeNodes(int64_t lo, int64_t hi) {
  std::vector<Node> out;
  while (lo < hi) {
    int level = 0;
    while (lo % (int64_t{2} << level) == 0 && lo + (int64_t{2} << level) <= hi) ++level;
    out.push_back({level, lo >> level});
    lo += int64_t{1} << level;
  }
  return out;
}

absl::StatusOr<Hash> TreeRoot(int64_t size, const NodeReader& read) {
  if (size < 0) return absl::InvalidArgumentError("tree size is negative");
  if (size == 0) return EmptyRoot();
  CANTDO_ASSIGN_OR_RETURN(std::vector<Hash> h, RangeHashes({{0, size}}, read));
  return h[0];
}

absl::StatusOr<Hash> SubtreeHash(int64_t lo, int64_t hi, const NodeReader& read) {
  if (lo < 0 || lo >= hi) return absl::InvalidArgumentError("empty subtree");
  CANTDO_ASSIGN_OR_RETURN(std::vector<Hash> h, RangeHashes({{lo, hi}}, read));
  return h[0];
}

NodeReader LeafNodeReader(const std::vector<Hash>& leaves) {
  return [&leaves](const std::vector<Node>& nodes) -> absl::StatusOr<std::vector<Hash>> {
    std::vector<Hash> out;
    for (const Node& n : nodes) {
      const int64_t lo = n.index << n.level, hi = (n.index + 1) << n.level;
      if (hi > static_cast<int64_t>(leaves.size())) return absl::NotFoundError("node beyond the leaves");
      std::vector<Hash> level(leaves.begin() + lo, leaves.begin() + hi);
      while (level.size() > 1) {
        for (size_t i = 0; i < level.size() / 2; ++i) level[i] = NodeHash(level[2 * i], level[2 * i + 1]);
        level.resize(level.size() / 2);
      }
      out.push_back(level[0]);
    }
    return out;
  };
}

absl::StatusOr<LeafRange> FirstDifference(int64_t size, const Hash& a_root, const NodeReader& a, const NodeReader& b) {
  LeafRange r{0, size};
  if (size <= 0) return absl::InvalidArgumentError("no leaves to compare");
  Hash trusted = a_root;
  while (!r.exact()) {
    const int64_t mid = r.lo + SplitPoint(r.hi - r.lo);
    CANTDO_ASSIGN_OR_RETURN(std::vector<Hash> sides, RangeHashes({{r.lo, mid}, {mid, r.hi}}, a));
    if (NodeHash(sides[0], sides[1]) != trusted) return r;
    CANTDO_ASSIGN_OR_RETURN(Hash b_left, SubtreeHash(r.lo, mid, b));
    if (b_left != sides[0]) {
      r.hi = mid;
      trusted = sides[0];
    } else {
      r.lo = mid;
      trusted = sides[1];
    }
  }
  return r;
}

absl::StatusOr<std::vector<Hash>> InclusionProof(int64_t index, int64_t size, const NodeReader& read) {
  if (index < 0 || index >= size) {
    return absl::InvalidArgumentError(absl::StrCat("leaf ", index, " is not in a tree of ", size));
  }
  std::vector<Range> ranges;
  InclusionRanges(index, 0, size, ranges);
  return RangeHashes(ranges, read);
}

absl::StatusOr<std::vector<Hash>> ConsistencyProof(int64_t old_size, int64_t new_size, const NodeReader& read) {
  if (old_size <= 0 || old_size > new_size) {
    return absl::InvalidArgumentError(absl::StrCat("no consistency proof from ", old_size, " to ", new_size));
  }
  std::vector<Range> ranges;
  if (old_size < new_size) ConsistencyRanges(old_size, 0, new_size, true, ranges);
  return RangeHashes(ranges, read);
}

absl::Status VerifyInclusion(int64_t index, int64_t size, const Hash& leaf_hash, const std::vector<Hash>& proof,
                             const Hash& root) {
  if (index < 0 || index >= size) return ProofFailed("leaf index beyond the tree");
  uint64_t fn = static_cast<uint64_t>(index), sn = static_cast<uint64_t>(size - 1);
  Hash r = leaf_hash;
  for (const Hash& p : proof) {
    if (sn == 0) return ProofFailed("inclusion proof too long");
    if ((fn & 1) || fn == sn) {
      r = NodeHash(p, r);
      if (!(fn & 1)) {
        while (!(fn & 1) && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      r = NodeHash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) return ProofFailed("inclusion proof too short");
  if (r != root) return ProofFailed("inclusion proof does not lead to the root");
  return absl::OkStatus();
}

absl::Status VerifyConsistency(int64_t old_size, int64_t new_size, const Hash& old_root, const Hash& new_root,
                               const std::vector<Hash>& proof) {
  if (old_size <= 0 || old_size > new_size) return ProofFailed("no consistency between these sizes");
  if (old_size == new_size) {
    if (!proof.empty()) return ProofFailed("consistency proof between equal sizes must be empty");
    if (old_root != new_root) return ProofFailed("two different trees of the same size");
    return absl::OkStatus();
  }
  if (proof.empty()) return ProofFailed("consistency proof is empty");
  std::vector<Hash> path;
  // An old tree that is a perfect subtree is the proof's starting point.
  if ((old_size & (old_size - 1)) == 0) path.push_back(old_root);
  path.insert(path.end(), proof.begin(), proof.end());
  uint64_t fn = static_cast<uint64_t>(old_size - 1), sn = static_cast<uint64_t>(new_size - 1);
  while (fn & 1) {
    fn >>= 1;
    sn >>= 1;
  }
  Hash fr = path[0], sr = path[0];
  for (size_t i = 1; i < path.size(); ++i) {
    const Hash& c = path[i];
    if (sn == 0) return ProofFailed("consistency proof too long");
    if ((fn & 1) || fn == sn) {
      fr = NodeHash(c, fr);
      sr = NodeHash(c, sr);
      if (!(fn & 1)) {
        while (!(fn & 1) && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      sr = NodeHash(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) return ProofFailed("consistency proof too short");
  if (fr != old_root) return ProofFailed("consistency proof does not lead to the old root");
  if (sr != new_root) return ProofFailed("consistency proof does not lead to the new root");
  return absl::OkStatus();
}

absl::StatusOr<CompactRange> CompactRange::Of(int64_t size, std::vector<Hash> nodes) {
  if (size < 0 || static_cast<size_t>(__builtin_popcountll(static_cast<uint64_t>(size))) != nodes.size()) {
    return absl::InvalidArgumentError(absl::StrCat("a tree of ", size, " leaves has ",
                                                   __builtin_popcountll(static_cast<uint64_t>(size)),
                                                   " right-edge nodes, not ", nodes.size()));
  }
  CompactRange c;
  c.size_ = size;
  c.nodes_ = std::move(nodes);
  return c;
}

std::vector<std::pair<Node, Hash>> CompactRange::Append(const Hash& leaf_hash) {
  std::vector<std::pair<Node, Hash>> completed;
  const int64_t index = size_;
  Hash h = leaf_hash;
  completed.push_back({{0, index}, h});
  // Each trailing 1 bit of the old size is a left sibling that now pairs up.
  int level = 0;
  while ((index >> level) & 1) {
    h = NodeHash(nodes_.back(), h);
    nodes_.pop_back();
    ++level;
    completed.push_back({{level, index >> level}, h});
  }
  nodes_.push_back(h);
  ++size_;
  return completed;
}

Hash CompactRange::Root() const {
  if (nodes_.empty()) return EmptyRoot();
  Hash h = nodes_.back();
  for (size_t i = nodes_.size() - 1; i > 0; --i) h = NodeHash(nodes_[i - 1], h);
  return h;
}

}  // namespace cantdo::tlog
