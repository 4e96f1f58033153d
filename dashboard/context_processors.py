from django.conf import settings


def site(request):
    return {"SITE_NAME": settings.SITE_NAME, "OUTPUT_REMOTE_IMAGES": settings.OUTPUT_REMOTE_IMAGES}
