/** Leader election and the jobs only the leader runs. */
export { EtcdElection, SoleElection, ELECTION_NAME, type LeaderElection } from "./election.js";
export { CompactionJob, LeaderJobs, type LeaderJob } from "./leader-jobs.js";
