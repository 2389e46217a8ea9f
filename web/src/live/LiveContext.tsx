import { createContext, useContext, useEffect, useRef, useState, type ReactNode } from "react";
import type { Job } from "../api/types";
import { LiveClient, type JobListener, type LiveState } from "./LiveClient";

const LiveContext = createContext<LiveClient | null>(null);

export function LiveProvider({ client, children }: { client: LiveClient; children: ReactNode }) {
  useEffect(() => {
    client.start();
    return () => client.stop();
  }, [client]);
  return <LiveContext.Provider value={client}>{children}</LiveContext.Provider>;
}

export function useLiveClient(): LiveClient | null {
  return useContext(LiveContext);
}

export function useLiveState(): LiveState {
  const client = useLiveClient();
  const [state, setState] = useState<LiveState>(client?.state ?? "closed");
  useEffect(() => {
    if (!client) return;
    setState(client.state);
    return client.onState(setState);
  }, [client]);
  return state;
}

/** Calls `onJob` with every pushed state of one job (or of every job of the tenant, when jobId is null). */
export function useLiveJobs(jobId: string | null, onJob: (job: Job, info: { seq: number; snapshot: boolean }) => void) {
  const client = useLiveClient();
  const latest = useRef(onJob);
  latest.current = onJob;
  useEffect(() => {
    if (!client) return;
    const listener: JobListener = (job, info) => latest.current(job, info);
    return jobId === null ? client.watchTenant(listener) : client.watchJob(jobId, listener);
  }, [client, jobId]);
}
