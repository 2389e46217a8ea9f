/** What the app learns at run time from /config.json: written at deploy time (DashboardStack) or by `make up`. */
export interface RuntimeConfig {
  api_url: string;
  ws_url: string;
  cognito: { region: string; user_pool_id?: string; client_id: string; endpoint?: string };
  environment?: string;
}

export async function loadConfig(fetchImpl: typeof fetch = fetch): Promise<RuntimeConfig> {
  const response = await fetchImpl("./config.json", { cache: "no-store" });
  if (!response.ok) throw new Error(`config.json: HTTP ${response.status}`);
  const config = (await response.json()) as RuntimeConfig;
  for (const key of ["api_url", "ws_url"] as const) {
    if (typeof config[key] !== "string" || !config[key]) throw new Error(`config.json has no ${key}`);
  }
  if (!config.cognito?.client_id) throw new Error("config.json has no cognito.client_id");
  return { ...config, api_url: config.api_url.endsWith("/") ? config.api_url : `${config.api_url}/` };
}
