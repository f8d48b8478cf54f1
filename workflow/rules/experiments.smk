# The compute jobs: each sweep's jobs (its kind's Kind.jobs), for every sweep whatever its kind. The kind
# decides what a job runs, the files it leaves besides its tables, and what each job asks
# the scheduler for (from the job's parameters too: job_resources; a sweep of one job is
# started first: sweep_priority); a job depends on the fingerprint of the code it runs
# (params.code), so a change to that code reruns it. A job
# whose run another sweep's job makes (the same image run in the gallery and the
# corruption sweep, say) is not run again: it takes that run's tables and images.


for sweep in SWEEPS:
    if packed(sweep):

        # pack_jobs: one process runs the sweep's own jobs one after another, each as it
        # would alone (its parameters, seeds, threads and folder), saving the start-ups.
        packed_asks = packed_resources(sweep)

        rule:
            name:
                f"run_{sweep}"
            output:
                packed_outputs(sweep),
            log:
                f"logs/{sweep}/jobs.log",
            benchmark:
                f"logs/{sweep}/jobs.benchmark.tsv"
            priority: sweep_priority(sweep)
            conda:
                "../../environment.yml"
            threads: packed_asks["threads"]
            resources:
                gpu=packed_asks["gpu"],
                mem_mb=packed_asks["mem_mb"],
                runtime=packed_asks["runtime"],
            params:
                jobs=packed_params(sweep),
                code=CODE[SWEEPS[sweep]["kind"]],
            script:
                "../scripts/run_job.py"

    else:

        rule:
            name:
                f"run_{sweep}"
            output:
                summary="results/{sweep}/jobs/{job}/summary.csv",
                curves="results/{sweep}/jobs/{job}/curves.csv",
                files=[f"results/{{sweep}}/jobs/{{job}}/{name}" for name in job_files(sweep)],
            log:
                "logs/{sweep}/{job}.log",
            benchmark:
                "logs/{sweep}/{job}.benchmark.tsv"
            wildcard_constraints:
                sweep=re.escape(sweep),
                job=one_of(own_jobs(sweep)),
            priority: sweep_priority(sweep)
            conda:
                "../../environment.yml"
            threads: lambda w: job_resources(w)["threads"]
            resources:
                gpu=lambda w: job_resources(w)["gpu"],
                mem_mb=lambda w: job_resources(w)["mem_mb"],
                runtime=lambda w: job_resources(w)["runtime"],
            params:
                job=job_params,
                code=CODE[SWEEPS[sweep]["kind"]],
            script:
                "../scripts/run_job.py"

    if len(own_jobs(sweep)) < len(JOBS[sweep]):

        rule:
            name:
                f"share_{sweep}"
            input:
                shared_from,
            output:
                summary="results/{sweep}/jobs/{job}/summary.csv",
                curves="results/{sweep}/jobs/{job}/curves.csv",
                files=[f"results/{{sweep}}/jobs/{{job}}/{name}" for name in job_files(sweep)],
            log:
                "logs/{sweep}/{job}.log",
            wildcard_constraints:
                sweep=re.escape(sweep),
                job=one_of([c for c in JOBS[sweep] if c not in own_jobs(sweep)]),
            localrule: True
            run:
                local_rules.share(inputs=input, outputs=output, sweep=wildcards.sweep, log=log[0])
