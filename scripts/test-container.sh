#!/usr/bin/env bash
# npm run test:container — builds the image from the Dockerfile and runs it as users do:
# `docker run` with the model on the volume, the article's request, the page, SIGTERM in
# the middle of a stream, a restart on the same volume, then the Kubernetes manifests under
# `podman kube play`. Podman with runc stands in for Docker (see the README); no registry
# is needed: the base image is built locally (scripts/container/build-base-image.sh).
# Needs the repository's `npm install` (the stand-in model is written with it).
# Environment: VISTO_CONTAINER_BASE (a base image to use instead of building one),
# VISTO_CONTAINER_PORT (default 17860).
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

image=localhost/visto:test
base=${VISTO_CONTAINER_BASE:-localhost/visto-base:node20-bookworm}
port=${VISTO_CONTAINER_PORT:-17860}
name=visto-test
volume=visto-test-data
drain=20
# The sandbox caps open files and processes below podman's defaults.
limits=(--ulimit nofile=20000:20000 --ulimit nproc=4096:4096)
podman() { command podman --runtime runc "$@"; }
work=$(mktemp -d /var/tmp/visto-container-test.XXXXXX)

timings=()
started_all=$(date +%s)
step_started=$started_all
step() {
  local now
  now=$(date +%s)
  [ -n "${step_name:-}" ] && timings+=("$(printf '%5d s  %s' $((now - step_started)) "$step_name")")
  step_name=$1
  step_started=$now
  [ -n "$1" ] && echo "== $1"
  return 0
}
cleanup() {
  podman rm -f -v -t 0 "$name" >/dev/null 2>&1 || true
  podman kube down "$work/kube.yaml" >/dev/null 2>&1 || true
  podman pod rm -f visto-pod-0 >/dev/null 2>&1 || true
  CONTAINERS_CONF=$work/containers.conf podman-compose -p visto-test -f compose.yaml down >/dev/null 2>&1 || true
  podman volume rm -f "$volume" visto-data visto-test_visto-data >/dev/null 2>&1 || true
  podman secret rm visto-api-key >/dev/null 2>&1 || true
  podman untag "$image" localhost/visto:latest >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "test-container: FAILED: $*" >&2
  podman logs --tail 40 "$name" 2>&1 | sed 's/^/  container: /' >&2 || true
  exit 1
}
wait_healthy() { # URL SECONDS → prints the seconds it took (counted from $3, default now)
  local started=${3:-$(date +%s%N)}
  until [ "$(curl -s -o /dev/null -w '%{http_code}' "$1/health")" = 200 ]; do
    [ $((($(date +%s%N) - started) / 1000000000)) -gt "$2" ] && return 1
    sleep 0.2
  done
  echo "$(((($(date +%s%N) - started) / 1000000) / 1000)).$(printf '%03d' $(((($(date +%s%N) - started) / 1000000) % 1000)))"
}

step "tools (podman, runc, debootstrap)"
# type -P: `podman` is also the function above, which command -v would report as present.
need=()
for tool in podman runc catatonit debootstrap fuse-overlayfs slirp4netns podman-compose curl; do type -P "$tool" >/dev/null || need+=("$tool"); done
dpkg -s uidmap >/dev/null 2>&1 || need+=(uidmap)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
podman rm -f -v -t 0 "$name" >/dev/null 2>&1 || true
podman volume rm -f "$volume" visto-data visto-test_visto-data >/dev/null 2>&1 || true
podman secret rm visto-api-key >/dev/null 2>&1 || true

step "base image"
if [ -z "${VISTO_CONTAINER_BASE:-}" ]; then bash scripts/container/build-base-image.sh "$base"; fi

step "image build (podman build --build-arg BASE_IMAGE=$base)"
# CI has just built this very engine on this machine (`npm ci`: same llama.cpp, patches, CPU
# and compiler, and the same path, /root/.cache/visto). Handing that build to the image
# build's engine cache skips a second 10-20 minute compile; the Dockerfile's step still runs
# and finds it as it would find its own earlier build. VISTO_CONTAINER_SEED_ENGINE=0 compiles
# inside the image build instead (what a user's `docker build` does).
host_engine=$(ls -d "${VISTO_CACHE:-$HOME/.cache/visto}"/engine/llama.cpp-nlc*/build-cpu 2>/dev/null | head -1 || true)
engine_cache=/var/tmp/buildah-cache/visto-engine-cpu
if [ "${VISTO_CONTAINER_SEED_ENGINE:-1}" = 1 ] && [ "$HOME" = /root ] && [ -f "$host_engine/visto-build.json" ] && [ -x "$host_engine/bin/llama-server" ] &&
  [ ! -e "$engine_cache/engine" ]; then
  seeded=$engine_cache/engine/$(basename "$(dirname "$host_engine")")/build-cpu
  mkdir -p "$seeded/bin"
  cp "$host_engine/visto-build.json" "$seeded/"
  cp "$host_engine/bin/llama-server" "$seeded/bin/"
  echo "engine: seeded the image build's cache with this machine's build ($host_engine)"
fi
# Docker's image format: OCI images have no HEALTHCHECK.
podman build --format docker --network host "${limits[@]}" --build-arg BASE_IMAGE="$base" -t "$image" . >"$work/build.log" 2>&1 ||
  { tail -40 "$work/build.log"; fail "the image did not build"; }
image_mb=$(($(podman image inspect --format '{{.Size}}' "$image") / 1000000))
base_mb=$(($(podman image inspect --format '{{.Size}}' "$base") / 1000000))
echo "image $image: $image_mb MB ($base_mb MB of it the base image)"
podman run --rm --no-healthcheck "${limits[@]}" --entrypoint sh "$image" -c \
  'for tool in cc gcc g++ cmake make; do command -v $tool && exit 1; done; test "$(id -u)" = 10001 && test ! -e /app/node_modules/@node-llama-cpp' ||
  fail "the runtime image has a compiler, runs as root, or carries node-llama-cpp's binaries"

step "stand-in model into the volume"
node packages/cli/bin/visto.js standin --preset tiny --out "$work/standin" >/dev/null 2>&1
podman volume create "$volume" >/dev/null
# Where `visto models pull` puts the default model, so the server finds it there offline.
hub_dir=/data/models/huggingface/Qwen/Qwen3-VL-4B-Instruct-GGUF
podman run --rm --no-healthcheck "${limits[@]}" --user 0 -v "$volume:/data" -v "$work/standin:/standin:ro" --entrypoint sh "$image" -c \
  "mkdir -p $hub_dir && cp /standin/model.gguf $hub_dir/Qwen3VL-4B-Instruct-Q4_K_M.gguf && cp /standin/mmproj.gguf $hub_dir/mmproj-Qwen3VL-4B-Instruct-F16.gguf && chown -R visto:visto /data/models"
podman run --rm --no-healthcheck "${limits[@]}" -v "$volume:/data" --entrypoint visto "$image" models list | tee "$work/models-list.txt"
grep -q 'Qwen3VL-4B-Instruct-Q4_K_M.gguf' "$work/models-list.txt" || fail "visto models list does not show the model in the volume"
volume_dir=$(podman volume inspect --format '{{.Mountpoint}}' "$volume")
model_stamp=$(stat -c '%i %Y' "$volume_dir/models/huggingface/Qwen/Qwen3-VL-4B-Instruct-GGUF/Qwen3VL-4B-Instruct-Q4_K_M.gguf")

step "docker run: start to a healthy /health"
# As hardened as the Kubernetes manifest: read-only root, no capabilities, no new privileges;
# no network to a hub (HF_HUB_OFFLINE) so the model can only come from the volume.
run_args=(-d --name "$name" "${limits[@]}" -p "127.0.0.1:$port:7860" -v "$volume:/data"
  --read-only --cap-drop ALL --security-opt no-new-privileges -e HF_HUB_OFFLINE=1)
# Without systemd, podman cannot schedule the HEALTHCHECK's timer (it says so on stderr); the
# check itself is run below with `podman healthcheck run`.
run_started=$(date +%s%N)
podman run "${run_args[@]}" "$image" --drain-seconds "$drain" --parallel 1 >/dev/null 2>"$work/run.err" || { cat "$work/run.err"; fail "podman run"; }
base_url=http://127.0.0.1:$port
healthy_s=$(wait_healthy "$base_url" 300 "$run_started") || fail "/health did not answer 200 within 300 s"
echo "healthy after $healthy_s s"
podman healthcheck run "$name" >/dev/null || fail "the image's HEALTHCHECK does not pass"
podman exec "$name" sh -c 'test "$(cat /proc/1/comm)" = node && cat /proc/[0-9]*/comm | grep -qx llama-server' || fail "node is not PID 1 or llama-server is not running"

step "the article's Python request, the page, a batch file"
python3 scripts/container/article-client.py "$base_url" test-support/fixtures/tiny.jpg || fail "the article's request did not get a 200"
page=$(curl -s -w '\n%{http_code}' "$base_url/")
[ "$(tail -1 <<<"$page")" = 200 ] && grep -q '<html' <<<"$page" || fail "the page did not load"
printf '%s\n' '{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{"model":"qwen3-vl-4b-instruct","messages":[{"role":"user","content":"hi"}],"max_tokens":4}}' >"$work/batch.jsonl"
file_id=$(curl -s -F purpose=batch -F "file=@$work/batch.jsonl" "$base_url/v1/files" | node -e 'let s="";process.stdin.on("data",(d)=>(s+=d)).on("end",()=>console.log(JSON.parse(s).id))')
[[ $file_id == file-* ]] || fail "uploading a batch file failed"
echo "uploaded $file_id"

step "SIGTERM during a streamed request"
node scripts/container/stream-through-stop.mjs "$base_url" "$name" "$drain" || fail "SIGTERM during a stream"

step "restart on the same volume"
run_started=$(date +%s%N)
podman start "$name" >/dev/null 2>"$work/run.err" || { cat "$work/run.err"; fail "podman start"; }
healthy_again_s=$(wait_healthy "$base_url" 300 "$run_started") || fail "/health did not answer 200 after the restart"
echo "healthy again after $healthy_again_s s"
curl -s "$base_url/v1/files" | grep -q "\"$file_id\"" || fail "the batch file $file_id is gone after the restart"
[ "$(stat -c '%i %Y' "$volume_dir/models/huggingface/Qwen/Qwen3-VL-4B-Instruct-GGUF/Qwen3VL-4B-Instruct-Q4_K_M.gguf")" = "$model_stamp" ] ||
  fail "the model file in the volume was rewritten"
podman logs "$name" 2>&1 | grep -q 'Downloading' && fail "the restart downloaded something"
podman rm -f -v -t "$drain" "$name" >/dev/null 2>&1

step "your own model files, mounted read-only"
run_started=$(date +%s%N)
podman run -d --name "$name" "${limits[@]}" -p "127.0.0.1:$port:7860" --read-only --cap-drop ALL -e HF_HUB_OFFLINE=1 \
  -v "$work/standin:/models:ro" "$image" --model /models/model.gguf --mmproj /models/mmproj.gguf >/dev/null 2>"$work/run.err" ||
  { cat "$work/run.err"; fail "podman run with a read-only model"; }
readonly_s=$(wait_healthy "$base_url" 300 "$run_started") || fail "/health did not answer 200 with the model mounted read-only"
echo "healthy after $readonly_s s"
python3 scripts/container/article-client.py "$base_url" test-support/fixtures/tiny.jpg >/dev/null || fail "the article's request with a read-only model"
podman rm -f -v -t "$drain" "$name" >/dev/null 2>&1
[ "$(ls "$work/standin")" = "$(printf 'mmproj.gguf\nmodel.gguf')" ] || fail "something was written next to the model"

# podman-compose and kube play run podman without our flags: runc and the limits from a config
# file, for these commands only.
printf '[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]\n[engine]\nruntime = "runc"\n' >"$work/containers.conf"
api_key=test-key-$RANDOM$RANDOM

step "compose.yaml under podman-compose"
podman tag "$image" localhost/visto:latest
podman volume create visto-test_visto-data >/dev/null
podman run --rm --no-healthcheck "${limits[@]}" --user 0 -v visto-test_visto-data:/data -v "$volume:/from:ro" --entrypoint sh "$image" -c \
  'cp -a /from/models /data/ && chown -R visto:visto /data'
compose() { CONTAINERS_CONF=$work/containers.conf VISTO_API_KEY=$api_key podman-compose -p visto-test -f compose.yaml "$@"; }
compose_started=$(date +%s%N)
compose up -d >"$work/compose.log" 2>&1 || { cat "$work/compose.log"; fail "podman-compose up"; }
compose_healthy_s=$(wait_healthy http://127.0.0.1:7860 300 "$compose_started") || { compose logs 2>&1 | tail -20; fail "compose: /health did not answer 200"; }
echo "healthy after $compose_healthy_s s"
[ "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:7860/v1/models)" = 401 ] || fail "compose serves without VISTO_API_KEY"
curl -sf -H "Authorization: Bearer $api_key" http://127.0.0.1:7860/v1/models | grep -q qwen3-vl-4b-instruct || fail "compose does not take VISTO_API_KEY from the environment"
compose down >/dev/null 2>&1
podman volume rm -f visto-test_visto-data >/dev/null

step "Kubernetes manifests under podman kube play"
# The PVC first (kube play makes it a volume, and refuses to replace an existing one), filled
# as the init container would fill it, then the Deployment.
sed -e "s|image: visto:latest|image: $image|" deploy/kubernetes/pvc.yaml >"$work/pvc.yaml"
podman kube play "$work/pvc.yaml" >/dev/null
podman run --rm --no-healthcheck "${limits[@]}" --user 0 -v visto-data:/data -v "$volume:/from:ro" --entrypoint sh "$image" -c \
  'cp -a /from/models /data/ && chown -R visto:visto /data'
# The Secret `kubectl create secret generic visto-api-key --from-literal=api-key=…` makes;
# podman 4.3's kube play reads a secretKeyRef from a podman secret holding {"key": base64}.
printf '{"api-key":"%s"}' "$(printf %s "$api_key" | base64 -w0)" | podman secret create visto-api-key - >/dev/null
# The manifest as it is, but for the image name and the pod's restart policy: podman 4.3
# applies a Deployment's `Always` to the init container too, restarts it once it has pulled,
# and then gives up on the pod because that container is running again. (Kubernetes allows
# only Always in a Deployment and never restarts a finished init container.)
sed -e "s|image: visto:latest|image: $image|" -e 's|^    spec:$|    spec:\n      restartPolicy: OnFailure|' \
  deploy/kubernetes/deployment.yaml >"$work/kube.yaml"
grep -q '^      restartPolicy: OnFailure' "$work/kube.yaml" || fail "the pod template has moved: update the restart policy above"
kube_started=$(date +%s%N)
kube_since=$(date --iso-8601=seconds)
CONTAINERS_CONF=$work/containers.conf podman kube play "$work/kube.yaml" >"$work/kube-play.log" 2>&1 || { cat "$work/kube-play.log"; fail "podman kube play failed"; }
pod_container=$(podman ps -a --format '{{.Names}}' | grep -E '^visto-pod(-[0-9]+)?-visto$' | head -1)
init_container=${pod_container%-visto}-models-pull
pod_ip=$(podman inspect --format '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$pod_container")
pod_url=http://$pod_ip:7860
kube_healthy_s=$(wait_healthy "$pod_url" 300 "$kube_started") || { podman logs "$pod_container" 2>&1 | tail -20; fail "the pod's /health did not answer 200"; }
echo "pod healthy after $kube_healthy_s s at $pod_url"
# A `once` init container is removed when it is done; its exit stays in podman's events.
podman events --stream=false --since "$kube_since" --filter event=died --format '{{.Name}} {{.ContainerExitCode}}' |
  grep -qx "$init_container 0" || fail "the init container (visto models pull) did not run and exit 0"
# What the kubelet does for each probe (httpGet, any status from 200 to 399 passes); podman's
# own translation of httpGet probes runs curl inside the container, which the slim image lacks.
for probe in startupProbe readinessProbe livenessProbe; do
  grep -A1 "^          $probe:" deploy/kubernetes/deployment.yaml | grep -q 'httpGet: { path: /health, port: http }' || fail "$probe is not an httpGet of /health"
done
[ "$(curl -s -o /dev/null -w '%{http_code}' "$pod_url/health")" = 200 ] || fail "the pod's probes do not pass"
podman inspect --format '{{.HostConfig.ReadonlyRootfs}} {{.Config.User}}' "$pod_container" | grep -q '^true 10001' || fail "the pod is not read-only and non-root"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$pod_url/v1/models")" = 401 ] || fail "the pod serves without the Secret's API key"
curl -sf -H "Authorization: Bearer $api_key" "$pod_url/v1/models" | grep -q qwen3-vl-4b-instruct || fail "the pod does not take the Secret's API key"
podman kube down "$work/kube.yaml" >/dev/null 2>&1

# Build stages are cached by content (and the npm and engine caches by mounts): drop them.
podman image prune -f >/dev/null

step ""
echo
echo "test-container: passed; image $image_mb MB, healthy in $healthy_s s (restart $healthy_again_s s, read-only model $readonly_s s, compose $compose_healthy_s s, pod $kube_healthy_s s)"
printf '%s\n' "${timings[@]}"
printf '%5d s  total\n' $(($(date +%s) - started_all))
