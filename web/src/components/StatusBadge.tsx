export function StatusBadge({ status, stopping, testId = "status" }: { status: string; stopping?: string | null; testId?: string }) {
  return (
    <span className={`badge badge-${status.toLowerCase()}`} data-testid={testId}>
      {status}
      {stopping ? <span className="badge-note"> · {stopping.replace("_", " ")}…</span> : null}
    </span>
  );
}
