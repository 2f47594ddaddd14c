"""docs/deploy.md's kubectl and helm commands, read in order as an operator would run them: every
object a command names exists by then (created by an earlier command, applied from deploy/kubernetes/,
or made by the chart with deploy/helm/values.yaml according to chart_facts), every Secret the values
read is created with the key they read, the chart version is pinned, and the `auth can-i` answers the
guide promises are what the RBAC evaluator of test_rbac computes."""

from __future__ import annotations

import re
import shlex
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from chart_facts import (
    CHART,
    CHART_REPO,
    CHART_VERSION,
    MIN_HELM,
    SOURCES,
    ChartObject,
    chart_objects,
    claims_without_storage_class,
    git_sync_prefix,
    pods_and_claims,
    secret_references,
)

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs" / "deploy.md"
VALUES = REPO / "deploy" / "helm" / "values.yaml"

KINDS = {
    "deploy": "Deployment",
    "deployment": "Deployment",
    "deployments": "Deployment",
    "sts": "StatefulSet",
    "statefulset": "StatefulSet",
    "statefulsets": "StatefulSet",
    "svc": "Service",
    "service": "Service",
    "services": "Service",
    "secret": "Secret",
    "secrets": "Secret",
    "pvc": "PersistentVolumeClaim",
    "persistentvolumeclaim": "PersistentVolumeClaim",
    "pod": "Pod",
    "pods": "Pod",
    "po": "Pod",
    "sa": "ServiceAccount",
    "serviceaccount": "ServiceAccount",
    "ns": "Namespace",
    "namespace": "Namespace",
}
# The cluster's own infrastructure: the guide checks it, it creates none of it.
CLUSTER_INFRA = {"storageclass", "storageclasses", "sc", "nodes", "node"}
VALUE_OPTIONS = {
    "-n", "--namespace", "-c", "--container", "-o", "--output", "-f", "--filename", "-p", "--patch",
    "--kubeconfig", "--as", "--subresource", "--from-literal", "--server", "--token", "--cluster",
    "--user", "--certificate-authority", "--version", "--values",
}  # fmt: skip


@dataclass
class Command:
    tool: str
    args: list[str]  # positionals, in order (for exec: up to `--`)
    options: dict[str, list[str]]
    after_dashes: list[str]
    heredoc: str | None
    comment: str  # a trailing `# yes` / `# no`
    text: str

    def option(self, *names: str) -> str | None:
        for name in names:
            if self.options.get(name):
                return self.options[name][-1]
        return None


def shell_commands(text: str) -> list[list[str]]:
    """Simple commands of a shell line, including those inside $(...), as token lists."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    tokens = list(lexer)
    commands: list[list[str]] = [[]]
    for token in tokens:
        if token and set(token) <= set("();<>|&"):
            commands.append([])
            continue
        commands[-1].append(token)
        for inner in re.findall(r"\$\(([^()]*(?:\([^()]*\)[^()]*)*)\)", token):
            commands.extend(shell_commands(inner))
    return [c for c in commands if c]


def parse(tokens: list[str], heredoc: str | None, comment: str, text: str) -> Command | None:
    while tokens and re.match(r"^[A-Za-z_]\w*=", tokens[0]):  # VAR=value prefixes
        tokens = tokens[1:]
    if not tokens or tokens[0] not in ("kubectl", "helm"):
        return None
    args: list[str] = []
    options: dict[str, list[str]] = defaultdict(list)
    rest = tokens[1:]
    after: list[str] = []
    i = 0
    while i < len(rest):
        token = rest[i]
        if token == "--":
            after = rest[i + 1 :]
            break
        if token.startswith("-") and token != "-":
            name, eq, value = token.partition("=")
            if eq:
                options[name].append(value)
            elif name in VALUE_OPTIONS and i + 1 < len(rest):
                options[name].append(rest[i + 1])
                i += 1
            else:
                options[name].append("")
        else:
            args.append(token)
        i += 1
    return Command(tokens[0], args, dict(options), after, heredoc, comment, text)


def doc_commands(markdown: str) -> list[Command]:
    """kubectl/helm commands from fenced blocks (heredocs attached) and inline code spans, in order."""
    found: list[Command] = []
    lines = markdown.splitlines()
    i = 0
    in_fence = False
    while i < len(lines):
        stripped = lines[i].strip()
        if stripped.startswith("```"):
            in_fence = not in_fence
            i += 1
            continue
        if not in_fence:
            for span in re.findall(r"`([^`]+)`", lines[i]):
                if re.match(r"(kubectl|helm) ", span):
                    for tokens in shell_commands(span):
                        if (command := parse(tokens, None, "", span)) is not None:
                            found.append(command)
            i += 1
            continue
        logical = stripped
        while logical.endswith("\\") and i + 1 < len(lines):
            i += 1
            logical = logical[:-1] + " " + lines[i].strip()
        heredoc = None
        if match := re.search(r"<<-?'?(\w+)'?", logical):
            body = []
            while i + 1 < len(lines) and lines[i + 1].strip() != match[1]:
                i += 1
                body.append(lines[i])
            i += 1  # the terminator
            heredoc = "\n".join(body)
            logical = logical[: match.start()]
        comment = logical.rsplit(" # ", 1)[1].strip() if " # " in logical else ""
        # Only lines that run kubectl/helm are shell for this check; other blocks (an env file
        # with a multi-line quoted JSON, a Python snippet) are not split into words at all.
        if not re.search(r"\b(kubectl|helm)\b", logical):
            i += 1
            continue
        for tokens in shell_commands(logical):
            if (command := parse(tokens, heredoc, comment, logical)) is not None:
                found.append(command)
        i += 1
    return found


@dataclass
class Cluster:
    """What exists, as the guide's commands run in order."""

    objects: dict[tuple[str | None, str], set[str]] = field(default_factory=lambda: defaultdict(set))
    secret_keys: dict[tuple[str, str], set[str]] = field(default_factory=lambda: defaultdict(set))
    workloads: dict[tuple[str, str, str], ChartObject] = field(default_factory=dict)
    documents: list[dict[str, Any]] = field(default_factory=list)
    releases: list[tuple[str, str]] = field(default_factory=list)

    def add(self, namespace: str | None, kind: str, name: str) -> None:
        self.objects[(None if kind == "Namespace" else namespace, kind)].add(name)

    def has(self, namespace: str | None, kind: str, name: str) -> bool:
        return name in self.objects[(None if kind == "Namespace" else namespace, kind)]

    def apply(self, docs: list[dict[str, Any]], namespace: str | None) -> None:
        for doc in docs:
            self.documents.append(doc)
            self.add(doc["metadata"].get("namespace", namespace), doc["kind"], doc["metadata"]["name"])


def object_refs(command: Command) -> list[tuple[str, str]]:
    """(kind, name) pairs a kubectl command names: TYPE/NAME, or TYPE NAME [NAME...]."""
    verb, rest = command.args[0], command.args[1:]
    if not rest:  # a mention such as `kubectl exec`, not a command
        return []
    if verb in ("exec", "logs", "port-forward", "attach", "cp"):
        target = rest[0]
        kind, _, name = target.rpartition("/") if "/" in target else ("pod", "", target)
        return [(kind, name)]
    if verb == "rollout":
        rest = rest[1:]
    if verb in ("get", "describe", "delete", "rollout", "patch", "wait") and rest:
        if "/" in rest[0]:
            return [tuple(r.split("/", 1)) for r in rest]  # type: ignore[misc]
        return [(rest[0], name) for name in rest[1:]]
    return []


def run_guide(commands: list[Command]) -> tuple[Cluster, list[str]]:
    """Play the guide's commands against a model of the cluster; return it and every problem found."""
    cluster = Cluster()
    for namespace in ("default", "kube-system"):  # every cluster has these
        cluster.add(None, "Namespace", namespace)
    problems: list[str] = []
    values = yaml.safe_load(VALUES.read_text())
    for command in commands:
        where = f"docs/deploy.md: `{command.text.strip()}`"
        if command.tool == "helm":
            problems += check_helm(command, cluster, values, where)
            continue
        namespace = command.option("-n", "--namespace")
        if namespace and not (cluster.has(None, "Namespace", namespace)):
            problems.append(f"{where}: namespace {namespace} does not exist at that point")
        if not command.args:
            continue
        verb = command.args[0]
        if verb == "config":
            continue
        if verb == "create" and command.args[1:2] == ["namespace"]:
            cluster.add(None, "Namespace", command.args[2])
            continue
        if verb == "create" and command.args[1:3] == ["secret", "generic"]:
            name = command.args[3]
            cluster.add(namespace, "Secret", name)
            for literal in command.options.get("--from-literal", []):
                cluster.secret_keys[(namespace or "default", name)].add(literal.split("=", 1)[0])
            continue
        if verb == "apply":
            source = command.option("-f", "--filename")
            if source == "-":
                if command.heredoc is not None:
                    cluster.apply([d for d in yaml.safe_load_all(command.heredoc) if d], namespace)
            elif source and (REPO / source).is_file():
                cluster.apply([d for d in yaml.safe_load_all((REPO / source).read_text()) if d], namespace)
            else:
                problems.append(f"{where}: {source} is not a file of this repository")
            continue
        if verb == "auth":
            problems += check_can_i(command, cluster, where)
            continue
        for kind_word, name in object_refs(command):
            if kind_word.lower() in CLUSTER_INFRA or name.isupper():  # a placeholder such as NAME
                continue
            kind = KINDS.get(kind_word.lower())
            if kind is None:
                problems.append(f"{where}: unknown resource type {kind_word}")
            elif not cluster.has(namespace or "default", kind, name):
                problems.append(f"{where}: no {kind} {name} in namespace {namespace or 'default'}")
            elif container := command.option("-c", "--container"):
                workload = cluster.workloads.get((namespace or "default", kind, name))
                if workload is not None and container not in workload.containers:
                    problems.append(f"{where}: {kind} {name} has no container {container}")
    return cluster, problems


def check_helm(command: Command, cluster: Cluster, values: dict[str, Any], where: str) -> list[str]:
    problems = []
    if command.args[:2] == ["repo", "add"]:
        if tuple(command.args[2:4]) != CHART_REPO:
            problems.append(f"{where}: the chart repository is {CHART_REPO}")
        return problems
    installs = command.args[:1] == ["template"] or (
        command.args[:1] == ["upgrade"] and "--install" in command.options
    )
    if not installs or len(command.args) < 3:  # or a mention such as `helm upgrade --install`
        return problems
    release, chart = command.args[1:3]
    namespace = command.option("-n", "--namespace")
    if chart != CHART:
        problems.append(f"{where}: chart {chart}, expected {CHART}")
    if command.option("--version") != CHART_VERSION:
        problems.append(f"{where}: the chart version must be pinned: --version {CHART_VERSION}")
    if command.option("-f", "--values") != "deploy/helm/values.yaml":
        problems.append(f"{where}: the values must be deploy/helm/values.yaml")
    if namespace is None:
        problems.append(f"{where}: no -n namespace")
    elif command.args[0] == "upgrade":
        if not cluster.has(None, "Namespace", namespace):
            problems.append(f"{where}: namespace {namespace} does not exist at that point")
        cluster.releases.append((release, namespace))
        objects = chart_objects(values, release)
        for obj in objects:
            cluster.add(namespace, obj.kind, obj.name)
            cluster.workloads[(namespace, obj.kind, obj.name)] = obj
        for kind, name in pods_and_claims(objects):
            cluster.add(namespace, kind, name)
            if kind == "Pod":  # a StatefulSet's pod carries the StatefulSet's containers
                owner = next(o for o in objects if name == f"{o.name}-0")
                cluster.workloads[(namespace, kind, name)] = owner
    return problems


def check_can_i(command: Command, cluster: Cluster, where: str) -> list[str]:
    from test_rbac import Request, allowed

    verb, resource = (command.args[2:4] + ["", ""])[:2]
    subject = command.option("--as") or ""
    if "..." in (verb, resource) or not command.comment:
        return []
    match = re.fullmatch(r"system:serviceaccount:([^:]+):([^:]+)", subject)
    if match is None or not cluster.has(match[1], "ServiceAccount", match[2]):
        return [f"{where}: {subject} is no service account the guide created"]
    group, _, plural = resource.rpartition(".") if "." in resource else ("", "", resource)
    subresource = command.option("--subresource")
    request = Request(verb, group, f"{plural}/{subresource}" if subresource else plural, command.option("-n"))
    expected = command.comment.split()[0] == "yes"
    if allowed(cluster.documents, request) != expected:
        return [f"{where}: the guide says {command.comment}, the RBAC says the opposite"]
    return []


@pytest.fixture(scope="module")
def guide() -> tuple[list[Command], Cluster, list[str]]:
    commands = doc_commands(DOCS.read_text())
    cluster, problems = run_guide(commands)
    return commands, cluster, problems


@pytest.fixture(scope="module")
def values() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(VALUES.read_text())
    return loaded


def test_the_parser_reads_the_guide(guide: tuple[list[Command], Cluster, list[str]]) -> None:
    """The checks below are only as good as the reading: the guide's key commands are all found."""
    commands, cluster, _ = guide
    verbs = {(c.tool, c.args[0]) for c in commands if c.args}
    assert {("kubectl", "exec"), ("kubectl", "create"), ("kubectl", "apply"), ("helm", "upgrade")} <= verbs
    assert cluster.releases == [("airflow", "airflow")]
    assert any(c.heredoc and "PersistentVolumeClaim" in c.heredoc for c in commands)
    # One read of the token Secret stands alone, one sits inside --token="$(...)": both are found.
    token_reads = [c for c in commands if c.args == ["get", "secret", "meshmark-airflow-token"]]
    assert len(token_reads) >= 2, "commands inside $(...) are read too"


def test_every_command_names_objects_that_exist(guide: tuple[list[Command], Cluster, list[str]]) -> None:
    _, _, problems = guide
    assert not problems, "\n".join(problems)


def test_the_pool_is_created_in_the_scheduler(guide: tuple[list[Command], Cluster, list[str]]) -> None:
    commands, cluster, _ = guide
    pool = [c for c in commands if c.after_dashes[:4] == ["airflow", "pools", "set", "meshmark_loadtest"]]
    assert pool, "the guide never creates the pool meshmark_loadtest"
    for command in pool:
        kind_word, name = command.args[1].split("/", 1)
        workload = cluster.workloads[("airflow", KINDS[kind_word], name)]
        assert workload.source == "scheduler" and command.option("-c") == "scheduler"
        assert command.after_dashes[4] == "1", "one slot: load tests must never overlap"


def test_every_secret_the_values_read_is_created_with_its_key(
    guide: tuple[list[Command], Cluster, list[str]], values: dict[str, Any]
) -> None:
    _, cluster, _ = guide
    for secret, key, reader in secret_references(values):
        assert key in cluster.secret_keys[("airflow", secret)], f"{reader}: no Secret {secret} with key {key}"
    # The optional git credentials: the guide's Secret holds the keys this git-sync reads.
    prefix = git_sync_prefix(values)
    git = cluster.secret_keys[("airflow", "meshmark-git-credentials")]
    assert git == {f"{prefix}USERNAME", f"{prefix}PASSWORD"}, git
    assert "meshmark-git-credentials" in VALUES.read_text(), "values.yaml names another git Secret"


def test_the_chart_table_is_what_the_chart_creates(values: dict[str, Any]) -> None:
    text = DOCS.read_text()
    rows = re.findall(r"^\| (\w+) \| `([\w-]+)` \| `([\w/.-]+)` \|$", text, re.MULTILINE)
    expected = [(o.kind, o.name, SOURCES[o.source].split()[0]) for o in chart_objects(values)]
    assert [(k, n, "chart/templates/" + t) for k, n, t in rows] == expected


def test_the_guide_pins_the_chart_and_helm_versions(guide: tuple[list[Command], Cluster, list[str]]) -> None:
    commands, _, _ = guide
    helm = [
        c
        for c in commands
        if c.tool == "helm" and c.args[:1] in (["upgrade"], ["template"]) and len(c.args) > 2
    ]
    assert helm and all(c.option("--version") == CHART_VERSION for c in helm)
    text = DOCS.read_text()
    assert f"chart {CHART_VERSION}" in text and f"Helm {MIN_HELM} or newer" in text


def test_claims_without_a_storage_class_are_explained(
    guide: tuple[list[Command], Cluster, list[str]], values: dict[str, Any]
) -> None:
    commands, _, _ = guide
    claims = claims_without_storage_class(values)
    assert claims, "the chart's defaults give the scheduler and triggerer log claims"
    text = DOCS.read_text()
    assert "default StorageClass" in text
    assert any(c.args[:2] == ["get", "storageclass"] for c in commands)
    for claim in claims:
        assert claim in text, f"the guide does not name the claim {claim}"


def test_the_compose_kubeconfig_uses_no_expiring_token(
    guide: tuple[list[Command], Cluster, list[str]],
) -> None:
    commands, _, _ = guide
    # (The guide mentions `kubectl create token` only to warn against it.)
    assert not [c.text for c in commands if c.args[:2] == ["create", "token"] and len(c.args) > 2]
    assert any(c.option("-f") == "deploy/kubernetes/compose-token.yaml" for c in commands)
    credentials = [c for c in commands if c.args[:2] == ["config", "set-credentials"]]
    assert credentials and all("meshmark-airflow-token" in (c.option("--token") or "") for c in credentials)
