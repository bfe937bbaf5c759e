#include "cantdo/workflow/backlog.hpp"

#include <map>

#include "cantdo/base/status.hpp"
#include "store.hpp"

namespace cantdo::workflow {

absl::StatusOr<std::vector<QueueBacklog>> ReadBacklog(pg::Connection& conn, const std::vector<std::string>& task_queues,
                                                      absl::Time now) {
  std::vector<QueueBacklog> out;
  std::map<std::string, size_t> index;
  for (const auto& q : task_queues) {
    if (index.emplace(q, out.size()).second) out.push_back(QueueBacklog{q});
  }
  const std::string queues = internal::PgTextArray(task_queues);
  const std::string at = internal::PgTimeParam(now);
  CANTDO_ASSIGN_OR_RETURN(
      pg::Result w, conn.Exec("SELECT task_queue, count(*), (extract(epoch FROM min(visible_at)) * 1000000)::bigint"
                              " FROM cantdo.workflow_tasks WHERE task_queue = ANY($1::text[])"
                              " AND visible_at <= $2::timestamptz GROUP BY task_queue",
                              {pg::TextParam(queues), pg::TextParam(at)}));
  for (int i = 0; i < w.Rows(); ++i) {
    CANTDO_ASSIGN_OR_RETURN(std::string q, w.GetString(i, 0));
    QueueBacklog& b = out[index.at(q)];
    CANTDO_ASSIGN_OR_RETURN(b.workflow_tasks, w.GetInt64(i, 1));
    CANTDO_ASSIGN_OR_RETURN(int64_t us, w.GetInt64(i, 2));
    b.oldest_workflow_task = absl::FromUnixMicros(us);
  }
  CANTDO_ASSIGN_OR_RETURN(
      pg::Result a, conn.Exec("SELECT task_queue, count(*), (extract(epoch FROM min(visible_at)) * 1000000)::bigint"
                              " FROM cantdo.activity_tasks WHERE task_queue = ANY($1::text[]) AND lease_id IS NULL"
                              " AND visible_at <= $2::timestamptz GROUP BY task_queue",
                              {pg::TextParam(queues), pg::TextParam(at)}));
  for (int i = 0; i < a.Rows(); ++i) {
    CANTDO_ASSIGN_OR_RETURN(std::string q, a.GetString(i, 0));
    QueueBacklog& b = out[index.at(q)];
    CANTDO_ASSIGN_OR_RETURN(b.activity_tasks, a.GetInt64(i, 1));
    CANTDO_ASSIGN_OR_RETURN(int64_t us, a.GetInt64(i, 2));
    b.oldest_activity_task = absl::FromUnixMicros(us);
  }
  return out;
}

}  // namespace cantdo::workflow
