import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App";
import { loadConfig } from "./config";
import "./styles.css";

const root = createRoot(document.getElementById("root")!);

loadConfig()
  .then((config) =>
    root.render(
      <StrictMode>
        <App config={config} />
      </StrictMode>,
    ),
  )
  .catch((error: Error) =>
    root.render(
      <main className="signin">
        <h1>Tasklane</h1>
        <p role="alert" className="error">
          The dashboard could not load its configuration: {error.message}
        </p>
      </main>,
    ),
  );
