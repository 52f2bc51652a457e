from semcgcnn.cli import app

app()
