# The dashboard's one image: web (gunicorn), worker and beat (Celery) and the demo simulator all run from it.
# Build: docker compose build (or docker build -t runpod-dashboard .)
FROM python:3.11-slim

ENV DJANGO_SETTINGS_MODULE=dashboard.settings \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
RUN useradd --create-home --uid 1000 app

# The runtime dependencies at the versions CI tested (lock.txt is the constraints file); a layer of its own so a
# code change does not reinstall them.
COPY requirements/ requirements/
RUN pip install -r requirements/base.in -c requirements/lock.txt

COPY . .
# Static files are collected into the image and served by whitenoise. The throwaway SECRET_KEY keeps settings from
# writing a real one into the image; the running containers get theirs from the environment.
RUN SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput -v 0 \
    && rm -rf var && mkdir var && chown app:app var

USER app
EXPOSE 8000
CMD ["gunicorn", "dashboard.wsgi", "--bind", "0.0.0.0:8000", "--threads", "4", "--no-control-socket", "--access-logfile", "-"]
