"""Twin maps on a dask.distributed cluster, through its client's ``concurrent.futures`` executor."""

import pytest
import xarray as xr

from thermalink.simulators import twin_map

distributed = pytest.importorskip("distributed", reason="dask.distributed is in the test extra")


@pytest.fixture(scope="module")
def client():
    # Threads in this process: starts in well under a second and needs no free ports beyond
    # an in-process scheduler (dashboard off).
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        yield client


def test_map_on_a_dask_cluster_equals_the_serial_map_and_ran_as_cluster_tasks(client):
    axes = dict(kappa=[0.05, 0.5, 5.0], n_source=[3.0, 30.0])
    with distributed.get_task_stream(client) as stream:
        on_cluster = twin_map({"transmission": 0.9}, executor=client.get_executor(), chunk_size=2,
                              progress=False, **axes)
    xr.testing.assert_allclose(on_cluster, twin_map({"transmission": 0.9}, progress=False, **axes))
    tasks = [task for task in stream.data if "evaluate_points" in str(task["key"])]
    assert len(tasks) == 3  # 6 grid points in chunks of 2, each one task on a worker
    assert {task["worker"] for task in tasks} <= set(client.scheduler_info()["workers"])


def test_a_bad_grid_point_fails_before_anything_is_submitted(client):
    with distributed.get_task_stream(client) as stream:
        with pytest.raises(ValueError, match="in_coupling"):
            twin_map(None, executor=client.get_executor(), kappa=[0.1], n_source=[1.0], in_coupling=[0.5, 1.2],
                     progress=False)
    assert not [task for task in stream.data if "evaluate_points" in str(task["key"])]
