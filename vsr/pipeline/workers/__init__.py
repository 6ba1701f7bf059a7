"""Segments and files as tasks for workers: the task records (`tasks`), a worker holding a model
(`worker`), where workers run (`local`: this process or local processes; `ray_cluster`: a Ray
cluster), and spreading a job's tasks over them (`schedule`)."""
