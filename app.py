"""Local Insight web app. Development: ``python app.py``; production: ``gunicorn app:server``."""
from insight.web import create_app

app = create_app()
server = app.server

if __name__ == "__main__":
    app.run(host="127.0.0.1", port=8050)
