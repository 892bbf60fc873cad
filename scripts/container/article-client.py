# The article's request, unchanged but for where it sends it and which image it reads
# (argv: BASE_URL IMAGE). Exit 0 only on a 200 whose answer has message content.
# Uses `requests` as the article does; where it is not installed, the standard library
# sends the same bytes (same URL, header and JSON body).
import base64, json, sys

base_url, image_path = sys.argv[1], sys.argv[2]
with open(image_path, "rb") as f:
    b64 = base64.b64encode(f.read()).decode("utf-8")
payload = {
    "model": "qwen3-vl-4b-instruct",
    "messages": [{"role": "user", "content": [
        {"type": "text", "text": "请详细描述这张图片中的场景"},
        {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{b64}"}}]}],
    "max_tokens": 1024,
    "temperature": 0.3,
}
url = f"{base_url}/v1/chat/completions"
headers = {"Content-Type": "application/json"}
try:
    import requests
    r = requests.post(url, headers=headers, data=json.dumps(payload))
    status, text, client = r.status_code, r.text, "requests " + requests.__version__
except ImportError:
    import urllib.error, urllib.request
    request = urllib.request.Request(url, data=json.dumps(payload).encode("utf-8"), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request) as response:
            status, text = response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read().decode("utf-8")
    client = "urllib (requests is not installed)"
print(f"article client ({client}): HTTP {status}")
if status != 200:
    print(text)
    sys.exit(1)
answer = json.loads(text)["choices"][0]["message"]["content"]
print("answer:", answer[:120].replace("\n", " "))
sys.exit(0 if isinstance(answer, str) else 1)
