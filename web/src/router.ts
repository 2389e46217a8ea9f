import { useEffect, useState } from "react";

/** Hash routes (#/jobs/abc): the same build works behind CloudFront, S3 or the local server, no rewrites. */
export type Route =
  | { name: "jobs" }
  | { name: "job"; jobId: string }
  | { name: "submit" }
  | { name: "dlq" };

export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#/, "").replace(/^\/+/, "");
  const [first, second] = path.split("/").map(decodeURIComponent);
  if (first === "jobs" && second) return { name: "job", jobId: second };
  if (first === "submit") return { name: "submit" };
  if (first === "dlq") return { name: "dlq" };
  return { name: "jobs" };
}

export function hrefOf(route: Route): string {
  switch (route.name) {
    case "job":
      return `#/jobs/${encodeURIComponent(route.jobId)}`;
    case "submit":
      return "#/submit";
    case "dlq":
      return "#/dlq";
    default:
      return "#/jobs";
  }
}

export function navigate(route: Route): void {
  window.location.hash = hrefOf(route);
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(window.location.hash));
  useEffect(() => {
    const update = () => setRoute(parseRoute(window.location.hash));
    window.addEventListener("hashchange", update);
    return () => window.removeEventListener("hashchange", update);
  }, []);
  return route;
}
