"""The runner watches the project that `m87-agent compose` used, however a job's compose command
line spells its options (spec_compose_args_parse reads them for both): a service whose container
exits is reported failed with -fFILE, --file=FILE and --project-n=NAME (a shortened
--project-name), spellings the runner's own reading missed (it then watched the workdir's
project, found no container and called the job succeeded)."""

import pytest
import yaml

from compose_util import AGENT
from runner_util import failing_service_job, runner, unique_id, with_compose_options  # noqa: F401

pytestmark = pytest.mark.skipif(not AGENT.exists(), reason="build/bin/m87-agent not built")

# each spelling: the options before the command, given the project and the compose file, and
# whether the file names the project itself (name:) or only the options do
SPELLINGS = {
    "glued-f": (lambda project, f: "-f%s" % f, True),
    "file-equals": (lambda project, f: "--file=%s" % f, True),
    "short-long-name": (lambda project, f: "--file %s --project-n=%s" % (f, project), False),
    "glued-p": (lambda project, f: "-f %s -p%s" % (f, project), False),
}


@pytest.mark.parametrize("spelling", sorted(SPELLINGS))
def test_watched_project_follows_the_options(env, runner, spelling):
    app = unique_id("sp")
    project = unique_id("named")
    job = failing_service_job(app, env.small_image)
    spell, named_in_file = SPELLINGS[spelling]
    # a file of another name: no default file in the workdir
    compose = yaml.safe_load(job["files"].pop("docker-compose.yml"))
    if named_in_file:
        compose = dict(name=project, **compose)
    job["files"]["stack.yml"] = yaml.safe_dump(compose)
    options = spell(project, "stack.yml")
    with_compose_options(job, options)
    runner.projects.add(project)
    proc = runner.apply([job], check=1)
    assert len(runner.containers(project)) == 1
    st = runner.status_json(check=1)[app]
    assert st["state"] == "failed"
    text = (st["message"] or "") + (st["output"] or "") + proc.err
    assert "%s-web-1" % project in text, text
    # removed: the stop step finds the project again
    runner.apply([], check=0)
    assert runner.containers(project) == []
