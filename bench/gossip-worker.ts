/**
 * Runs one gossip benchmark inside a worker thread, so the caller can give it the heap a
 * large simulated cluster needs (every simulated member holds a full member list: the
 * simulator's memory grows with N², a real member's with N).
 */
import { parentPort, workerData } from "node:worker_threads";
import { runGossipBench, type GossipBenchOptions } from "./gossip.js";

parentPort?.postMessage(runGossipBench(workerData as GossipBenchOptions));
