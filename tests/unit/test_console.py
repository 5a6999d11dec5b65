"""The terminal during the main job: progress, the summary, errors and real warnings — not library chatter."""

import io

from skills_pipeline import console


def routed(text: str) -> str:
    terminal, log = io.StringIO(), io.StringIO()
    tee = console._Tee(log, terminal)
    tee.write(text)
    assert log.getvalue() == text  # the log file keeps everything
    return terminal.getvalue()


def test_known_chatter_and_info_stay_in_the_log_file():
    shown = routed(
        "2026-06-01T02:00:00.1Z [warning  ] To enable emitting Openlineage events, install the provider [cosmos]\n"
        "2026-06-01T02:00:00.2Z [info     ] Task started [task]\n"
        "2026-06-01T02:00:00.3Z [warning  ] Emitting event for inactive AssetModel x [airflow]\n"
    )
    assert shown == ""


def test_an_unknown_warning_and_an_error_reach_the_terminal_without_the_traceback_frames():
    shown = routed(
        "2026-06-01T02:00:00.1Z [warning  ] disk almost full [worker]\n"
        "2026-06-01T02:00:01.0Z [error    ] Task failed with exception [task]\n"
        "Traceback (most recent call last):\n"
        '  File "/x/task_runner.py", line 1579, in run\n'
        "    result = execute()\n"
        "             ^^^^^^^^^\n"
        "airflow.sdk.exceptions.AirflowFailException: social_security 2023-12-01: 1 file(s) rejected:\n"
        "  batch 3: /landing/social_security/2023-12-01/old.xls\n"
        "    [unsupported_format] 'old.xls' is not a supported delivery format\n"
        "2026-06-01T02:00:02.0Z [info     ] next [task]\n"
    )
    assert shown.splitlines() == [
        "2026-06-01T02:00:00.1Z [warning  ] disk almost full [worker]",
        "2026-06-01T02:00:01.0Z [error    ] Task failed with exception [task]",
        "airflow.sdk.exceptions.AirflowFailException: social_security 2023-12-01: 1 file(s) rejected:",
        "  batch 3: /landing/social_security/2023-12-01/old.xls",
        "    [unsupported_format] 'old.xls' is not a supported delivery format",
    ]
