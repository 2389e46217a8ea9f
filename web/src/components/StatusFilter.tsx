/** A row of chips that filters a list by status; "All" clears the filter. */
export function StatusFilter<S extends string>({
  statuses,
  value,
  onChange,
  label,
}: {
  statuses: readonly S[];
  value: S | null;
  onChange: (next: S | null) => void;
  label: string;
}) {
  return (
    <div className="filters" role="group" aria-label={label}>
      {[null, ...statuses].map((s) => (
        <button
          key={s ?? "all"}
          type="button"
          className={s === value ? "chip active" : "chip"}
          aria-pressed={s === value}
          onClick={() => onChange(s)}
        >
          {s ?? "All"}
        </button>
      ))}
    </div>
  );
}
