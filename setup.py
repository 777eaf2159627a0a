from setuptools import find_packages, setup

setup(
    name="spotify_assets",
    version="0.1.0",
    description="Spotify listening history as a Dagster medallion lakehouse (lake + PostgreSQL star schema).",
    packages=find_packages(exclude=["spotify_assets_tests", "benchmarks", "scripts"]),
    package_data={"spotify_assets.report": ["fonts/*"]},
    python_requires=">=3.11,<3.13",
    install_requires=[
        "dagster==1.13.27",
        "dagster-webserver==1.13.27",
        "dagster-aws==0.29.27",
        "dagster-postgres==0.29.27",
        "pandas==3.1.1",
        "pyarrow==26.0.1",
        "spotipy==2.26.0",
        "psycopg[binary]==3.3.9",
        "psycopg2-binary==2.9.13",  # dagster-postgres (the Dagster instance) connects through psycopg2
        "sqlalchemy>=2.0,<2.1",
        "pgserver==0.1.4",
        "psutil==7.2.2",  # run monitoring looks for run worker processes (also a pgserver dependency)
        "boto3==1.44.8",
        "pillow==13.0.0",
        "pgpq==0.12.0",  # Arrow -> PostgreSQL binary COPY encoder (storage/warehouse_write.py; benchmark 1)
        "xxhash==4.1.0",  # the digest that tells an export's rows apart (contracts/export_formats.py)
        "orjson==3.13.0",  # JSON parsed and written where it matches `json` exactly (contracts/json_codec.py)
        "pydantic-settings==2.16.3",  # the settings model (contracts/settings.py); also a Dagster dependency
        "python-dotenv==1.2.4",  # reads the project's .env (contracts/settings.py); also a Dagster dependency
        "tabulate==0.10.0",  # Markdown tables (contracts/markdown.py); also a Dagster dependency
    ],
    extras_require={
        "dev": [
            "pytest==9.2.0",
            "pytest-xdist==3.8.0",  # make test runs the suite on every core
            "moto[server]==5.2.5",
            "ruff==0.17.6",
            "mypy==2.4.1",
            "vulture==2.16",
            "types-PyYAML==6.0.12.20261122",
            "types-psutil==7.2.2.20261111",
            "types-tabulate==0.10.0.20261006",
            # drives Debian's headless chromium (`make browser`) in the browser test and `make screenshots`;
            # 4.52 and later require certifi>=2026.10.23
            "selenium==4.51.0",
            # benchmark 1 measures ADBC's bulk ingest beside our IO manager (pgpq is a runtime dependency)
            "adbc-driver-postgresql==1.13.0",
            "adbc-driver-manager==1.13.0",
            "mkdocs==1.6.1",  # make docs: the pages under docs/ as a site, built --strict in CI
            "aiosmtpd==1.4.6",  # a local SMTP server receives the alert e-mails in the alert tests
        ],
    },
    entry_points={
        "console_scripts": ["spotify-assets=spotify_assets.operations.cli:main"],
    },
)
