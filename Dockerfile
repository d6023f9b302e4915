FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY requirements.lock .
RUN pip install --no-cache-dir --require-hashes -r requirements.lock
COPY . .
EXPOSE 8000
CMD ["python", "-m", "crm.serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
