/**
 * Answers a hostile model (or a prompt injection in an image) could write, each trying to
 * run script in the page (setting `window.pwned`) or to make it fetch from elsewhere
 * (203.0.113.0/24 is TEST-NET-3: nothing answers there). `raw` marks the ones that are raw
 * HTML, which the page must show as the text it is.
 */
export interface XssPayload {
  name: string
  markdown: string
  raw?: true
}

export const xssPayloads: XssPayload[] = [
  // Raw HTML: with markdown-it's html off, all of it is text.
  { name: 'script element', markdown: '<script>window.pwned = 1</script>', raw: true },
  { name: 'img onerror', markdown: '<img src=x onerror="window.pwned = 2">', raw: true },
  { name: 'svg onload', markdown: '<svg onload="window.pwned = 3"></svg>', raw: true },
  { name: 'iframe srcdoc', markdown: '<iframe srcdoc="<script>parent.pwned = 4</script>"></iframe>', raw: true },
  { name: 'iframe javascript: src', markdown: '<iframe src="javascript:parent.pwned = 5"></iframe>', raw: true },
  { name: 'object data', markdown: '<object data="javascript:window.pwned = 6"></object>', raw: true },
  { name: 'embed from elsewhere', markdown: '<embed src="http://203.0.113.7/x.swf">', raw: true },
  { name: 'body onload', markdown: '<body onload="window.pwned = 8">', raw: true },
  { name: 'details ontoggle', markdown: '<details open ontoggle="window.pwned = 9"><summary>x</summary></details>', raw: true },
  { name: 'input autofocus onfocus', markdown: '<input autofocus onfocus="window.pwned = 10">', raw: true },
  { name: 'video onerror', markdown: '<video src=x onerror="window.pwned = 11"></video>', raw: true },
  { name: 'style @import', markdown: '<style>@import url(http://203.0.113.12/x.css);</style>', raw: true },
  { name: 'stylesheet link', markdown: '<link rel=stylesheet href="http://203.0.113.13/x.css">', raw: true },
  { name: 'meta refresh', markdown: '<meta http-equiv="refresh" content="0;url=javascript:window.pwned = 14">', raw: true },
  { name: 'base href', markdown: '<base href="http://203.0.113.15/">', raw: true },
  { name: 'raw anchor', markdown: '<a href="javascript:window.pwned = 16">raw anchor</a>', raw: true },
  { name: 'form action', markdown: '<form action="http://203.0.113.17/"><button>go</button></form>', raw: true },
  { name: 'mutation XSS through math/style', markdown: '<math><mtext><table><mglyph><style><img src=x onerror="window.pwned = 18">', raw: true },
  { name: 'comment breakout', markdown: '<!--><img src=x onerror="window.pwned = 19">-->', raw: true },
  { name: 'CDATA breakout', markdown: '<![CDATA[><img src=x onerror="window.pwned = 20">]]>', raw: true },
  { name: 'HTML block after text', markdown: 'Here it is:\n\n<div>\n<img src=x onerror="window.pwned = 21">\n</div>', raw: true },
  // Markdown links and images.
  { name: 'javascript: link', markdown: '[a](javascript:window.pwned=22)' },
  { name: 'mixed-case javascript: link', markdown: '[a](JaVaScRiPt:window.pwned=23)' },
  { name: 'entity-encoded colon', markdown: '[a](javascript&#58;window.pwned=24)' },
  { name: 'entity-encoded letter', markdown: '[a](&#x6A;avascript:window.pwned=25)' },
  { name: 'escaped colon', markdown: '[a](javascript\\:window.pwned=26)' },
  { name: 'angle-bracket destination', markdown: '[a](<javascript:window.pwned=27>)' },
  { name: 'data: HTML link', markdown: '[a](data:text/html;base64,PHNjcmlwdD5wYXJlbnQucHduZWQ9Mjg8L3NjcmlwdD4=)' },
  { name: 'vbscript: link', markdown: '[a](vbscript:msgbox(29))' },
  { name: 'file: link', markdown: '[a](file:///etc/passwd)' },
  { name: 'protocol-relative link', markdown: '[a](//203.0.113.31/)' },
  { name: 'title attribute breakout', markdown: '[a](https://example.com/ "t\\" onmouseover=\\"window.pwned = 32")' },
  { name: 'reference to a javascript: target', markdown: '[a][ref]\n\n[ref]: javascript:window.pwned=33' },
  { name: 'javascript: autolink', markdown: '<javascript:window.pwned=34>' },
  { name: 'autolink attribute breakout', markdown: '<http://example.com/" onmouseover="window.pwned = 35>' },
  { name: 'image from elsewhere', markdown: '![x](http://203.0.113.36/pixel.png)' },
  { name: 'javascript: image', markdown: '![x](javascript:window.pwned=37)' },
  { name: 'image inside a javascript: link', markdown: '[![x](http://203.0.113.38/i.png)](javascript:window.pwned=38)' },
  // Markup hidden in other constructs.
  { name: 'fence info string breakout', markdown: '```"><script>window.pwned = 39</script>\ncode\n```' },
  { name: 'HTML in a table', markdown: '| <img src=x onerror="window.pwned = 40"> |\n| --- |\n| <script>window.pwned = 40</script> |' },
  { name: 'entities that spell tags', markdown: '&lt;img src=x onerror="window.pwned = 41"&gt; &#60;script&#62;window.pwned = 41&#60;/script&#62;' },
]
