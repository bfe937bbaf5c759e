#include "authority/ledger_tree.hpp"

#include <map>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "cantdo/base/status.hpp"

namespace cantdo::authority {
namespace {

// The row and byte offset of a perfect subtree (V0014).
int64_t RowOf(const tlog::Node& n) { return (n.index + 1) << n.level; }

// "\x0a1b..." (bytea text output) -> bytes.
absl::StatusOr<std::string> FromByteaHex(const std::string& text) {
  if (text.size() < 2 || text[0] != '\\' || text[1] != 'x' || text.size() % 2 != 0 ||
      text.find_first_not_of("0123456789abcdef", 2) != std::string::npos) {
    return absl::DataLossError("ledger tree row is not bytea hex");
  }
  return absl::HexStringToBytes(absl::string_view(text).substr(2));
}

}  // namespace

absl::StatusOr<int64_t> LedgerTree::Size(pg::Connection& conn) {
  CANTDO_ASSIGN_OR_RETURN(pg::Result r, conn.Exec("SELECT coalesce(max(sequence), 0) FROM cantdo.ledger_tree"));
  return r.GetInt64(0, 0);
}

tlog::NodeReader LedgerTree::Reader(pg::Connection& conn) {
  return [&conn](const std::vector<tlog::Node>& nodes) -> absl::StatusOr<std::vector<tlog::Hash>> {
    std::string rows = "{";
    for (size_t i = 0; i < nodes.size(); ++i) absl::StrAppend(&rows, i ? "," : "", RowOf(nodes[i]));
    rows += "}";
    CANTDO_ASSIGN_OR_RETURN(pg::Result r, conn.Exec("SELECT sequence, hashes FROM cantdo.ledger_tree "
                                                    "WHERE sequence = ANY($1::bigint[])",
                                                    {rows}));
    std::map<int64_t, std::string> by_row;
    for (int i = 0; i < r.Rows(); ++i) {
      CANTDO_ASSIGN_OR_RETURN(int64_t seq, r.GetInt64(i, 0));
      CANTDO_ASSIGN_OR_RETURN(std::string text, r.GetString(i, 1));
      CANTDO_ASSIGN_OR_RETURN(by_row[seq], FromByteaHex(text));
    }
    std::vector<tlog::Hash> out;
    for (const tlog::Node& n : nodes) {
      auto it = by_row.find(RowOf(n));
      const size_t at = static_cast<size_t>(n.level) * 32;
      if (it == by_row.end()) return absl::NotFoundError(absl::StrCat("ledger tree has no entry ", RowOf(n)));
      if (it->second.size() < at + 32)
        return absl::DataLossError(absl::StrCat("ledger tree row ", RowOf(n), " is short"));
      CANTDO_ASSIGN_OR_RETURN(tlog::Hash h, tlog::HashFromBytes(absl::string_view(it->second).substr(at, 32)));
      out.push_back(h);
    }
    return out;
  };
}

absl::StatusOr<std::vector<tlog::Hash>> LedgerTree::Leaves(pg::Connection& conn, int64_t from, int64_t to) {
  CANTDO_ASSIGN_OR_RETURN(pg::Result r, conn.Exec("SELECT substring(hashes from 1 for 32) FROM cantdo.ledger_tree "
                                                  "WHERE sequence > $1 AND sequence <= $2 ORDER BY sequence",
                                                  {pg::Int64Param(from), pg::Int64Param(to)}));
  if (r.Rows() != to - from) return absl::NotFoundError(absl::StrCat("ledger tree lacks leaves ", from + 1, "..", to));
  std::vector<tlog::Hash> out;
  out.reserve(r.Rows());
  for (int i = 0; i < r.Rows(); ++i) {
    CANTDO_ASSIGN_OR_RETURN(std::string text, r.GetString(i, 0));
    CANTDO_ASSIGN_OR_RETURN(std::string bytes, FromByteaHex(text));
    CANTDO_ASSIGN_OR_RETURN(tlog::Hash h, tlog::HashFromBytes(bytes));
    out.push_back(h);
  }
  return out;
}

absl::Status LedgerTree::Append(pg::Connection& tx, int64_t size, const std::vector<tlog::Hash>& leaves) {
  if (leaves.empty()) return absl::OkStatus();
  std::vector<tlog::Hash> edge;
  if (size > 0) {
    CANTDO_ASSIGN_OR_RETURN(edge, Reader(tx)(tlog::RangeNodes(0, size)));
  }
  CANTDO_ASSIGN_OR_RETURN(tlog::CompactRange range, tlog::CompactRange::Of(size, std::move(edge)));
  std::string seqs = "{", hashes = "{";
  for (size_t i = 0; i < leaves.size(); ++i) {
    std::string row;
    for (const auto& [node, hash] : range.Append(leaves[i])) absl::StrAppend(&row, tlog::HashBytes(hash));
    absl::StrAppend(&seqs, i ? "," : "", range.size());
    absl::StrAppend(&hashes, i ? "," : "", "\"\\\\x", absl::BytesToHexString(row), "\"");
  }
  seqs += "}";
  hashes += "}";
  return tx
      .Exec("INSERT INTO cantdo.ledger_tree (sequence, hashes) SELECT * FROM unnest($1::bigint[], $2::bytea[])",
            {seqs, hashes})
      .status();
}

}  // namespace cantdo::authority
