from careplan.cli import app

app()
