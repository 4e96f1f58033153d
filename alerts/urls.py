from django.urls import path

from alerts import views

app_name = "alerts"

urlpatterns = [
    path("", views.alert_list, name="list"),
    path("<int:pk>/", views.alert_detail, name="detail"),
    path("<int:pk>/acknowledge/", views.alert_acknowledge, name="acknowledge"),
    path("<int:pk>/silence/", views.alert_silence, name="silence"),
    path("silences/<int:pk>/end/", views.silence_end, name="silence_end"),
    path("failures/", views.failures, name="failures"),
    path("hx/banner/", views.banner_hx, name="banner_hx"),
]
