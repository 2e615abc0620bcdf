#include "actors/messages.hpp"

#include <caf/io/all.hpp>

namespace playcount {

void configure_actor_system(caf::actor_system_config& cfg, bool network) {
  cfg.set("scheduler.policy", caf::atom("sharing"));
  cfg.set("scheduler.max-threads", 2);
  if (network) {
    cfg.load<caf::io::middleman>();
    cfg.set("middleman.heartbeat-interval",
            caf::timespan{std::chrono::seconds(1)});
    cfg.set("middleman.connection-timeout", caf::timespan{connection_timeout});
  }
  cfg.add_message_type<job_request>("playcount::job_request");
  cfg.add_message_type<job_result>("playcount::job_result");
  cfg.add_message_type<job_status>("playcount::job_status");
  cfg.add_message_type<worker_info>("playcount::worker_info");
  cfg.add_message_type<work_item>("playcount::work_item");
  cfg.add_message_type<job_plan>("playcount::job_plan");
  cfg.add_message_type<read_done>("playcount::read_done");
  cfg.add_message_type<partial_blob>("playcount::partial_blob");
  cfg.add_message_type<worker_stats>("playcount::worker_stats");
  cfg.add_message_type<coordinator_stats>("playcount::coordinator_stats");
  cfg.add_message_type<job_record>("playcount::job_record");
  cfg.add_message_type<job_submission>("playcount::job_submission");
  cfg.add_message_type<submit_reply>("playcount::submit_reply");
  cfg.add_message_type<job_lookup>("playcount::job_lookup");
  cfg.add_message_type<job_deletion>("playcount::job_deletion");
  cfg.add_message_type<job_query>("playcount::job_query");
  cfg.add_message_type<job_list>("playcount::job_list");
  cfg.add_message_type<registry_stats>("playcount::registry_stats");
  cfg.add_message_type<node_registration>("playcount::node_registration");
  cfg.add_message_type<registration_reply>("playcount::registration_reply");
  cfg.add_message_type<node_record>("playcount::node_record");
}

const char* to_string(job_state state) noexcept {
  switch (state) {
  case job_state::queued:
    return "queued";
  case job_state::started:
    return "started";
  case job_state::finished:
    return "finished";
  case job_state::failed:
    return "failed";
  case job_state::canceled:
    return "canceled";
  }
  return "failed";
}

bool from_string(std::string_view text, job_state& state) noexcept {
  for (auto s : {job_state::queued, job_state::started, job_state::finished,
                 job_state::failed, job_state::canceled})
    if (text == to_string(s)) {
      state = s;
      return true;
    }
  return false;
}

} // namespace playcount
