#include "actors/messages.hpp"

namespace playcount {

void configure_actor_system(caf::actor_system_config& cfg) {
  cfg.set("scheduler.policy", caf::atom("sharing"));
  cfg.set("scheduler.max-threads", 2);
  cfg.add_message_type<job_request>("playcount::job_request");
  cfg.add_message_type<job_result>("playcount::job_result");
  cfg.add_message_type<job_status>("playcount::job_status");
  cfg.add_message_type<worker_info>("playcount::worker_info");
  cfg.add_message_type<work_item>("playcount::work_item");
  cfg.add_message_type<scan_done>("playcount::scan_done");
  cfg.add_message_type<read_done>("playcount::read_done");
  cfg.add_message_type<partial_blob>("playcount::partial_blob");
  cfg.add_message_type<worker_stats>("playcount::worker_stats");
  cfg.add_message_type<coordinator_stats>("playcount::coordinator_stats");
}

} // namespace playcount
