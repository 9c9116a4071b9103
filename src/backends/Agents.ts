/**
 * Each agent's own command line, built as argv (never a string a shell re-parses), and the
 * mock agent shipped with the package. Pure.
 */
import type { AgentKind } from "../protocol/Ids.js"
import type { EnvValue, PreparedCommand } from "./Execution.js"

/**
 * The mock agent: a POSIX shell script, so every tier can run it. It reads its task from
 * WARRANT_TASK (never spliced into the script), appends it to MOCK_AGENT.md, says whether
 * MOCK_SECRET is present without printing it, probes the network through the session's
 * proxy when the task mentions "network", and exits 1 when the task mentions "fail".
 */
export const MOCK_AGENT_SCRIPT = [
  `printf '%s\\n' "$WARRANT_TASK" >> MOCK_AGENT.md`,
  `if [ -n "\${MOCK_SECRET:-}" ]; then echo "mock agent: MOCK_SECRET is present"; else echo "mock agent: MOCK_SECRET is absent"; fi`,
  `case "$WARRANT_TASK" in *network*)`,
  `  probe="http://\${MOCK_PROBE_HOST:-example.com}/"`,
  `  code=$(curl -sS -o /dev/null -w '%{http_code}' "$probe" 2>/dev/null) || code="unreachable"`,
  `  echo "mock agent: network probe $probe -> $code" ;;`,
  `esac`,
  `case "$WARRANT_TASK" in *fail*) echo "mock agent: failing as asked"; exit 1 ;; esac`,
  `echo "mock agent: done"`
].join("\n")

/** Why every tier here refuses the pi agent. */
export const piRefusal = "pi is harness-only; no tier on this runner can run it"

export interface AgentCommand {
  readonly command: PreparedCommand
  /** Variables the agent's command line needs besides the contract's own env. */
  readonly env: Readonly<Record<string, EnvValue>>
}

const literal = (value: string): EnvValue => ({ _tag: "Literal", value })

export const agentCommand = (agent: AgentKind, prompt: string): AgentCommand => {
  switch (agent) {
    case "claude-code":
      return { command: { kind: "argv", argv: ["claude", "-p", prompt, "--permission-mode", "acceptEdits"] }, env: {} }
    case "codex":
      return { command: { kind: "argv", argv: ["codex", "exec", "--skip-git-repo-check", prompt] }, env: {} }
    case "command":
      return { command: { kind: "shell", shell: "sh", script: prompt }, env: {} }
    case "mock":
      return { command: { kind: "shell", shell: "sh", script: MOCK_AGENT_SCRIPT }, env: { WARRANT_TASK: literal(prompt) } }
    case "pi":
      // Harness-only: prepared so a tier can name it in its refusal, never run here.
      return { command: { kind: "argv", argv: ["pi", prompt] }, env: {} }
  }
}
