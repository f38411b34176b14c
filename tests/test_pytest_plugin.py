"""The pytest plugin, as another project's tests use it (pytester runs them in-process)."""

from __future__ import annotations

from tests.conftest import ROOT

pytest_plugins = ["pytester"]

MANIFEST = ROOT / "scenarios" / "lockorder.manifest"


def test_assert_clean_passes_on_the_merged_model(pytester):
    pytester.makepyfile(
        """
        def test_selftest_device(lockstep):
            result = lockstep.assert_clean("selftest-device", faults=True)
            assert result.fault_points == 45
        """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_a_finding_fails_with_report_replay_line_and_swimlane(pytester):
    pytester.makepyfile(
        """
        def test_b5(lockstep):
            lockstep.assert_clean("selftest-device", variant="shared-destroy-rwsem-class")
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*=== finding 1 of 1: recursive-locking (&obj->destroy_rwsem) ===*",
            "*WARNING: possible recursive locking detected*",
            "*replay: lockstep replay ls1:selftest-device:variant=shared-destroy-rwsem-class:-*",
            "* step | setup * | idev1 *| post",
            "*held at the end:*",
        ]
    )


def test_a_users_own_program_and_a_toml_file(pytester):
    pytester.makefile(
        ".toml",
        mine="""
        name = "mine"
        description = "one device attaches"
        [objects]
        ioas = ["ioas1"]
        groups = { group0 = ["dev1"] }
        [[setup]]
        op = "bind"
        device = "dev1"
        [actors]
        "idev1" = [{ op = "attach", device = "dev1", pt = "ioas1" }]
        """,
    )
    pytester.makepyfile(
        """
        import pytest
        from lockstep.scheduler import LockClass, Mutex, Program

        def abba():
            a, b = Mutex(LockClass("A")), Mutex(LockClass("B"))
            async def t1():
                async with a, b:
                    pass
            async def t2():
                async with b, a:
                    pass
            return Program({"t1": t1, "t2": t2})

        def test_toml(lockstep):
            lockstep.assert_clean("mine.toml")

        def test_own_program(lockstep):
            with pytest.raises(AssertionError) as info:
                lockstep.assert_clean(abba)
            text = str(info.value)
            assert "possible circular locking dependency detected" in text
            # a program of the test module is named by module and function
            name = "test_a_users_own_program_and_a_toml_file.abba"
            assert f"replay: lockstep replay ls1:{name}:-:" in text
            assert " step | t1" in text
        """
    )
    pytester.runpytest().assert_outcomes(passed=2)


def test_command_line_options_set_the_exploration(pytester):
    pytester.makepyfile(
        """
        def test_options(lockstep):
            result = lockstep.explore("replace-vs-destroy")
            assert (result.strategy, result.executions) == ("random", 7)
            assert lockstep.seed == 3

        def test_arguments_win(lockstep):
            assert lockstep.explore("replace-vs-destroy", executions=2).executions == 2
        """
    )
    result = pytester.runpytest(
        "--lockstep-strategy", "random", "--lockstep-executions", "7", "--lockstep-seed", "3"
    )
    result.assert_outcomes(passed=2)


def test_works_inside_a_pytest_trio_test(pytester):
    pytester.makeini("[pytest]\ntrio_mode = true\n")
    pytester.makepyfile(
        """
        import trio

        async def test_in_trio(lockstep):
            await trio.sleep(0)
            lockstep.assert_clean("dma-owner-vs-bind", strategy="random", executions=20)
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_the_manifest_check_fails_when_the_model_gains_an_edge(pytester):
    """Patch the model so IOMMU_HWPT_ALLOC's reply takes a new lock under ioas->mutex: the
    manifest test names the new edge and where it was taken."""
    pytester.makepyfile(
        f"""
        from lockstep.actors import hwpt
        from lockstep.scheduler import LockClass, Mutex

        MANIFEST = {str(MANIFEST)!r}

        def test_unpatched(lockstep):
            lockstep.assert_lockorder(MANIFEST, "selftest-device")

        def test_patched(lockstep, monkeypatch):
            respond = hwpt.iommufd_ucmd_respond

            async def respond_with_a_new_lock(site):
                lock = Mutex(LockClass("&test->new_lock"))
                await lock.lock()
                await lock.unlock()
                return await respond(site)

            monkeypatch.setattr(hwpt, "iommufd_ucmd_respond", respond_with_a_new_lock)
            lockstep.assert_lockorder(MANIFEST, "selftest-device")
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    out = result.stdout.str()
    assert f"1 lock-order edge(s) not in {MANIFEST}:" in out
    assert (
        "&ioas->mutex -> &test->new_lock, first taken at respond_with_a_new_lock "
        "(test_the_manifest_check_fails_when_the_model_gains_an_edge.py:14) "
        "[idev1: IOMMU_HWPT_ALLOC] in selftest-device"
    ) in out


def test_the_plugin_is_registered_once_by_its_entry_point(pytester):
    pytester.makepyfile(
        """
        def test_once(request):
            manager = request.config.pluginmanager
            plugin = manager.get_plugin("lockstep")
            assert plugin is not None
            assert [n for n, p in manager.list_name_plugin() if p is plugin] == ["lockstep"]
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_fuzz_fails_with_the_shrunk_scenario_and_its_replay_line(pytester):
    """``lockstep.fuzz`` in a project's test: it stops at the first finding and fails with
    the scenario file and its replay line (a variant, so that there is a bug to find; seed 1
    draws it at the 39th scenario, seed 0 only at the 147th)."""
    pytester.makepyfile(
        """
        def test_generated(lockstep):
            lockstep.fuzz(max_time=120, seed=1, variant="finalize-after-unlock")
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*lockstep fuzz --seed 1: 1 finding(s)*",
            "*# Found by lockstep fuzz --seed 1: *",
            "*[actors]*",
            "*replay: lockstep replay 'ls1:*variant=finalize-after-unlock:*",
        ]
    )


def test_a_relative_manifest_is_found_beside_the_test_file(pytester):
    """A manifest path is resolved against the test file, not the current directory; a
    missing one says how to write it."""
    sub = pytester.mkdir("sub")
    (sub / "lockorder.manifest").write_text(MANIFEST.read_text())
    (sub / "test_order.py").write_text(
        "def test_order(lockstep):\n"
        '    lockstep.assert_lockorder("lockorder.manifest", "selftest-device", faults=True)\n'
        "\n"
        "def test_missing(lockstep):\n"
        '    lockstep.assert_lockorder("absent.manifest", "selftest-device", faults=True)\n'
    )
    result = pytester.runpytest("sub", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*no lock-order manifest at *sub/absent.manifest; write one with: "
            "lockstep lockorder --faults selftest-device > *sub/absent.manifest*"
        ]
    )


def test_version(capsys):
    from lockstep.tools.cli import run

    assert run(["--version"]) == 0
    assert capsys.readouterr().out.startswith("lockstep, version ")


def test_a_failure_in_a_trio_test_is_not_wrapped(pytester):
    """Under pytest-trio the report comes first, not an ExceptionGroup around it."""
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.trio
        async def test_b5(lockstep):
            lockstep.assert_clean("selftest-device", variant="shared-destroy-rwsem-class")
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "LockstepFailure" in out and "ExceptionGroup" not in out
    assert "=== finding 1 of 1: recursive-locking (&obj->destroy_rwsem) ===" in out


def test_a_failure_shows_the_minimized_line(pytester):
    pytester.makepyfile(
        """
        def test_abbcca(lockstep):
            lockstep.assert_clean("abbcca", strategy="random", executions=50, seed=1)
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*replay: lockstep replay ls1:abbcca:-:2.1.0.2x2.1.0.1x2.0x3.2*",
            "*minimized: lockstep replay ls1:abbcca:-:0x5.1x5*",
        ]
    )


def test_update_manifest_writes_it_and_then_it_holds(pytester):
    pytester.makepyfile(
        """
        def test_order(lockstep):
            lockstep.assert_lockorder("order.manifest", "replace-vs-destroy")
        """
    )
    pytester.runpytest().assert_outcomes(failed=1)  # no manifest yet: says how to write one
    pytester.runpytest("--lockstep-update-manifest").assert_outcomes(passed=1)
    written = (pytester.path / "order.manifest").read_text()
    assert written.startswith("# lock order (lockdep class edges) seen by:")
    assert "&ioas->mutex -> " in written
    pytester.runpytest().assert_outcomes(passed=1)


def test_a_stale_manifest_edge_warns_or_fails(pytester):
    pytester.makepyfile(
        """
        def test_order(lockstep):
            lockstep.assert_lockorder("order.manifest", "replace-vs-destroy")
        """
    )
    pytester.runpytest("--lockstep-update-manifest").assert_outcomes(passed=1)
    manifest = pytester.path / "order.manifest"
    manifest.write_text(manifest.read_text() + "&gone->lock -> &ioas->mutex\n")
    warned = pytester.runpytest()
    warned.assert_outcomes(passed=1, warnings=1)
    warned.stdout.fnmatch_lines(["*StaleLockOrderWarning: 1 lock-order edge(s)*&gone->lock*"])
    failed = pytester.runpytest("--lockstep-stale=fail")
    failed.assert_outcomes(failed=1)
    failed.stdout.fnmatch_lines(["*that no exploration took: &gone->lock -> &ioas->mutex*"])
    pytester.runpytest("--lockstep-stale=ignore").assert_outcomes(passed=1, warnings=0)
