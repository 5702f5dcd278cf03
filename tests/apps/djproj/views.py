import hashlib

from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt


def index(request):
    return HttpResponse("django index", content_type="text/plain")


def hello(request, name):
    return JsonResponse({"hello": name, "q": request.GET.get("q")})


@csrf_exempt
def form(request):
    if request.method != "POST":
        return HttpResponse(status=405)
    return JsonResponse({k: v for k, v in request.POST.items()})


@csrf_exempt
def upload(request):
    f = request.FILES["file"]
    h = hashlib.sha256()
    n = 0
    for chunk in f.chunks():
        n += len(chunk)
        h.update(chunk)
    return JsonResponse({"filename": f.name, "len": n, "sha256": h.hexdigest(), "field": request.POST.get("field")})


@csrf_exempt
def raw(request):
    data = request.body
    return JsonResponse({"len": len(data), "sha256": hashlib.sha256(data).hexdigest()})


def stream(request):
    n = int(request.GET.get("n", "100"))
    return StreamingHttpResponse(("line %d\n" % i for i in range(n)), content_type="text/plain")


def meta(request):
    return JsonResponse({"path": request.path, "path_info": request.path_info, "script_name": request.META.get("SCRIPT_NAME"),
                         "host": request.get_host(), "method": request.method,
                         "scheme": request.scheme})
