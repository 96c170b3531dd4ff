/**
 * The one way a process reaches the managers: a list of addresses, one TLS channel per
 * address (shared by every service client on it), fail-over, and backoff. The CLI, the
 * agent's dispatcher stream and its attachments client all use it; before it there were
 * three hand-written fail-over loops.
 *
 *   call        one unary RPC: the manager that answered last first, then the others in
 *               list order; only "cannot reach it" (UNAVAILABLE, deadline) moves on — any
 *               other answer is the answer. Errors leave through `fromGrpcError`.
 *   streams     `streamTarget()` names the manager to open a stream on; the owner reports
 *               `streamOpened` or `streamFailed(wasOpen)`. A stream that worked and broke
 *               moves to the next manager at once; a full round of managers that could not
 *               open one waits `backoff × (0.5…1)` before the next round, the backoff
 *               doubling up to `maxBackoffMs` and resetting once a stream opens.
 *
 * Addresses are asked for at every decision (`addresses()`), so a list that changes —
 * the managers the dispatcher stream reports — is followed without rebuilding anything.
 * Channels reconnect fast (100 ms → 1 s) so a dead manager costs a fail-over, not
 * grpc's default two-minute reconnect backoff. This file knows no service semantics.
 */
import * as grpc from "@grpc/grpc-js";
import { ErrorCode, SwarmnetError } from "./errors.js";
import { fromGrpcError } from "./grpc-errors.js";
import { TLS_CHANNEL_OPTIONS } from "./pki/tls.js";
import { grpcPackageDefinition } from "./proto.js";
import type { ProtoGrpcType } from "../proto/generated/swarmnet.js";
import type { AttachmentsClient } from "../proto/generated/swarmnet/v1/Attachments.js";
import type { CaClient } from "../proto/generated/swarmnet/v1/Ca.js";
import type { ClusterClient } from "../proto/generated/swarmnet/v1/Cluster.js";
import type { DispatcherClient } from "../proto/generated/swarmnet/v1/Dispatcher.js";
import type { EventsClient } from "../proto/generated/swarmnet/v1/Events.js";
import type { NetworksClient } from "../proto/generated/swarmnet/v1/Networks.js";
import type { NodesClient } from "../proto/generated/swarmnet/v1/Nodes.js";
import type { ServicesClient } from "../proto/generated/swarmnet/v1/Services.js";

/** Every service a manager serves, as clients over one channel. */
export interface ManagerClients {
  cluster: ClusterClient;
  nodes: NodesClient;
  networks: NetworksClient;
  services: ServicesClient;
  dispatcher: DispatcherClient;
  attachments: AttachmentsClient;
  ca: CaClient;
  events: EventsClient;
}

export type Callback<T> = (err: grpc.ServiceError | null, res?: T) => void;
export type ManagerCall<T> = (c: ManagerClients, options: grpc.CallOptions, cb: Callback<T>) => void;

export interface ManagerPoolOptions {
  /** Managers (host:port), asked at every decision. */
  addresses: () => readonly string[];
  credentials: grpc.ChannelCredentials;
  /** Deadline of one unary call to one manager. */
  callTimeoutMs?: number;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** Extra channel options (keepalive for long streams). */
  channelOptions?: grpc.ChannelOptions;
}

export const MANAGER_POOL_DEFAULTS = {
  // A CLI call or an attach is one etcd transaction (milliseconds); 15 s covers an etcd
  // leader change without leaving a person waiting on a dead manager for long.
  callTimeoutMs: 15_000,
  // First retry round after every manager failed: soon, a manager may be restarting.
  initialBackoffMs: 250,
  // Later rounds at most this far apart: an agent finds a manager within 5 s of its return.
  maxBackoffMs: 5_000,
};

const CHANNEL_DEFAULTS: grpc.ChannelOptions = {
  ...TLS_CHANNEL_OPTIONS,
  // Fail over instead of waiting on a dead manager's reconnect backoff.
  "grpc.initial_reconnect_backoff_ms": 100,
  "grpc.max_reconnect_backoff_ms": 1_000,
};

let services: ProtoGrpcType["swarmnet"]["v1"] | undefined;
function v1(): ProtoGrpcType["swarmnet"]["v1"] {
  services ??= (grpc.loadPackageDefinition(grpcPackageDefinition()) as unknown as ProtoGrpcType).swarmnet.v1;
  return services;
}

interface Entry {
  channel: grpc.Channel;
  clients: ManagerClients;
}

export class ManagerPool {
  private readonly entries = new Map<string, Entry>();
  private preferred = "";
  private streamIndex = 0;
  private failuresInRound = 0;
  private backoffMs: number;
  private readonly callTimeoutMs: number;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;

  constructor(private readonly opts: ManagerPoolOptions) {
    this.callTimeoutMs = opts.callTimeoutMs ?? MANAGER_POOL_DEFAULTS.callTimeoutMs;
    this.initialBackoffMs = opts.initialBackoffMs ?? MANAGER_POOL_DEFAULTS.initialBackoffMs;
    this.maxBackoffMs = opts.maxBackoffMs ?? MANAGER_POOL_DEFAULTS.maxBackoffMs;
    this.backoffMs = this.initialBackoffMs;
  }

  /** The managers, without duplicates, in the order given. */
  addresses(): string[] {
    return [...new Set(this.opts.addresses())];
  }

  /** The service clients on `address`'s channel (made on first use). */
  clients(address: string): ManagerClients {
    let e = this.entries.get(address);
    if (e === undefined) {
      const options = { ...CHANNEL_DEFAULTS, ...this.opts.channelOptions };
      const channel = new grpc.Channel(address, this.opts.credentials, options);
      const s = v1();
      const o = { ...options, channelOverride: channel };
      const creds = this.opts.credentials;
      e = {
        channel,
        clients: {
          cluster: new s.Cluster(address, creds, o),
          nodes: new s.Nodes(address, creds, o),
          networks: new s.Networks(address, creds, o),
          services: new s.Services(address, creds, o),
          dispatcher: new s.Dispatcher(address, creds, o),
          attachments: new s.Attachments(address, creds, o),
          ca: new s.Ca(address, creds, o),
          events: new s.Events(address, creds, o),
        },
      };
      this.entries.set(address, e);
    }
    return e.clients;
  }

  /** Calls one RPC on the first manager that can serve it (see the header). */
  async call<T>(fn: ManagerCall<T>): Promise<T> {
    const all = this.addresses();
    if (all.length === 0) {
      throw new SwarmnetError(ErrorCode.Unavailable, "no manager known: give a manager address", {
        retryable: true,
      });
    }
    const order = all.includes(this.preferred)
      ? [this.preferred, ...all.filter((a) => a !== this.preferred)]
      : all;
    let last: SwarmnetError | undefined;
    for (const address of order) {
      try {
        const res = await this.callOn(address, fn);
        this.preferred = address;
        return res;
      } catch (err) {
        if (err instanceof SwarmnetError && err.code === ErrorCode.Unavailable) {
          last = err;
          continue;
        }
        throw err;
      }
    }
    throw last ?? new SwarmnetError(ErrorCode.Unavailable, "no manager reachable", { retryable: true });
  }

  /** One RPC on one manager, no fail-over. */
  callOn<T>(address: string, fn: ManagerCall<T>, timeoutMs = this.callTimeoutMs): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      fn(this.clients(address), { deadline: Date.now() + timeoutMs }, (err, res) => {
        if (err !== null) reject(fromGrpcError(err, `manager ${address}`));
        else if (res === undefined)
          reject(new SwarmnetError(ErrorCode.Internal, `manager ${address}: empty answer`));
        else resolve(res);
      });
    });
  }

  /** The manager the next stream should be opened on, or undefined when none is known. */
  streamTarget(): string | undefined {
    const all = this.addresses();
    return all.length === 0 ? undefined : all[this.streamIndex % all.length];
  }

  /** A stream opened on `address`: backoff resets, and unary calls prefer it. */
  streamOpened(address: string): void {
    this.preferred = address;
    this.failuresInRound = 0;
    this.backoffMs = this.initialBackoffMs;
  }

  /**
   * The stream on the current target failed (`wasOpen`: it had worked). Moves to the next
   * manager; returns how long to wait before opening it (0 = at once).
   */
  streamFailed(wasOpen: boolean): number {
    this.streamIndex++;
    if (wasOpen) return 0;
    this.failuresInRound++;
    if (this.failuresInRound < Math.max(1, this.addresses().length)) return 0;
    this.failuresInRound = 0;
    const delay = this.backoffMs * (0.5 + Math.random() / 2);
    this.backoffMs = Math.min(this.backoffMs * 2, this.maxBackoffMs);
    return delay;
  }

  /** Drops `address`'s channel (its next use dials afresh). */
  forget(address: string): void {
    this.entries.get(address)?.channel.close();
    this.entries.delete(address);
  }

  close(): void {
    for (const e of this.entries.values()) e.channel.close();
    this.entries.clear();
  }
}
