# Multi-stage build: compile in the Rust image, build the dashboard in the
# Node image, ship a small Debian runtime with only the binary, conf/,
# lua-plugins/ and the dashboard's static files (served at :9180/ui/).
#   docker build -t strait .
#   docker run -p 9080:9080 -p 9443:9443 -p 7085:7085 -v $PWD/conf:/opt/strait/conf strait
# The Admin API and the dashboard (:9180/ui/) listen on loopback by default;
# to reach them from the host, set deployment.admin.admin_listen.ip and
# allow_admin in the mounted conf/config.yaml and publish -p 9180:9180.
FROM rust:1.85-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends protobuf-compiler \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY bench ./bench
RUN cargo build --release --locked --bin strait

FROM node:20-bookworm-slim AS dashboard
WORKDIR /src/dashboard
COPY dashboard/package.json dashboard/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY dashboard ./
RUN npm run build

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home /opt/strait strait
WORKDIR /opt/strait
COPY --from=build /src/target/release/strait /usr/local/bin/strait
COPY conf ./conf
COPY lua-plugins ./lua-plugins
COPY --from=dashboard /src/dashboard/dist ./dashboard/dist
RUN mkdir -p .data && chown strait .data
USER strait
# proxy, admin API and dashboard (/ui/), status
EXPOSE 9080 9443 9180 7085
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/strait"]
CMD ["-c", "/opt/strait/conf/config.yaml"]
