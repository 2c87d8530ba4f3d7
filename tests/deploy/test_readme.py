"""What the README tells a new user to run works with what the quick start installs."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, re.DOTALL)


def test_no_command_needs_a_tool_the_quick_start_does_not_install() -> None:
    shell = "\n".join(blocks("sh"))
    assert "uvx" not in README and "npx" not in shell and "pipx" not in shell
    for program in re.findall(r'"command": "([^"]+)"', README):
        assert program.startswith((".venv/bin/", "/")), program  # a path the quick start created


def test_the_mcp_client_example_uses_a_token_of_the_tenant_whose_tools_it_calls() -> None:
    (python,) = [b for b in blocks("python") if "streamable_http_client" in b]
    compile(python, "README.md", "exec")
    variable = re.search(r"os\.environ\['(\w+)'\]", python)
    assert variable is not None
    issued = re.search(rf"{variable.group(1)}=\$\(curl [^\n]*\$API/tenants/(\w+)/tokens", README)
    assert issued is not None and issued.group(1) == "acme"
    assert "get_weather" in python  # acme's tool, created above with acme in its path
    assert re.search(r"POST \$API/tenants/acme/tools -d '\{\n  \"name\": \"get_weather\"", README)


def test_the_claude_desktop_configuration_runs_the_wrapper_with_the_token_in_its_environment() -> None:
    (config,) = [json.loads(b) for b in blocks("json") if "mcpServers" in b]
    (server,) = config["mcpServers"].values()
    assert server["command"].endswith(".venv/bin/ledgergate")
    assert server["args"][0] == "wrapper" and "--url" in server["args"] and "--token" not in server["args"]
    assert "LEDGERGATE_TOKEN" in server["env"]


def test_the_deploy_section_names_the_files_that_exist() -> None:
    section = README[README.index("## Deploy") : README.index("## CLI")]
    for path in ("Dockerfile", "compose.yaml", "deploy/nginx.conf", "deploy/kubernetes/", "ingress.yaml"):
        assert path in section
        assert (ROOT / path).exists() or (ROOT / "deploy/kubernetes" / path).exists(), path
